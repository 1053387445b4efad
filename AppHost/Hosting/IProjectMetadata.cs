namespace Platform.AppHost.Hosting;

/// <summary>
/// A .NET project the AppHost can start. ProjectMetadata.targets generates one class per ProjectReference in
/// the <c>Projects</c> namespace (as Aspire's AppHost SDK does), e.g. <c>Projects.Platform_EngineSim</c>.
/// </summary>
internal interface IProjectMetadata
{
    /// <summary>The .csproj file.</summary>
    string ProjectPath { get; }

    /// <summary>The built assembly (the project's GetTargetPath), started as <c>dotnet TargetPath</c>.</summary>
    string TargetPath { get; }
}
