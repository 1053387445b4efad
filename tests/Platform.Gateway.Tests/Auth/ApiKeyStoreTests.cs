using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Gateway.Auth;

namespace Platform.Gateway.Tests.Auth;

public sealed class ApiKeyStoreTests
{
    private static ApiKeyStore Create(ApiKeyOptions options, string environment = "Production") =>
        new(Options.Create(options), new HostingEnvironment { EnvironmentName = environment }, NullLogger<ApiKeyStore>.Instance);

    private static string Sha256(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    [Fact]
    public void PlainKey_HashedAtLoad_ClearTextNotKept()
    {
        var entry = new ApiKeyEntry { Name = "tenant-a", Key = "sk-secret-1", MaxTokens = 100, RequestsPerMinute = 5, TokensPerMinute = 50, AllowedModels = ["m"] };
        var store = Create(new ApiKeyOptions { Keys = [entry] });

        Assert.Null(entry.Key);
        Assert.Equal([Sha256("sk-secret-1")], store.HashesForTesting);
        var key = store.Find("sk-secret-1");
        Assert.NotNull(key);
        Assert.Equal("tenant-a", key.Tenant);
        Assert.Equal(100, key.MaxTokens);
        Assert.Equal(5, key.Limits.RequestsPerMinute);
        Assert.Equal(50, key.Limits.TokensPerMinute);
        Assert.True(key.MayUse("m"));
        Assert.False(key.MayUse("other"));
    }

    [Fact]
    public void KeyHash_MatchesPresentedKey_CaseInsensitiveHex()
    {
        var store = Create(new ApiKeyOptions { Keys = [new ApiKeyEntry { Tenant = "t", KeyHash = Sha256("sk-hashed").ToUpperInvariant() }] });

        Assert.Equal("t", store.Find("sk-hashed")?.Tenant);
        Assert.Null(store.Find("sk-hashe"));
        Assert.Null(store.Find("sk-hashed "));
        Assert.Null(store.Find(string.Empty));
        Assert.Null(store.Find(new string('a', 10_000)));
        Assert.True(store.Find("sk-hashed")!.MayUse("anything"));
    }

    [Fact]
    public void KeysFile_Loaded()
    {
        var path = Path.Combine(Path.GetTempPath(), $"keys-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, $$"""[{"name":"from-file","keyHash":"{{Sha256("sk-file")}}","allowedModels":["x"],"maxTokens":7}]""");
        try
        {
            var store = Create(new ApiKeyOptions { KeysFile = path });
            var key = store.Find("sk-file");
            Assert.Equal("from-file", key?.Tenant);
            Assert.Equal(7, key!.MaxTokens);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void DevelopmentKey_ProvisionedOnlyInDevelopmentWithoutKeys()
    {
        var dev = Create(new ApiKeyOptions { DevelopmentKey = "sk-dev-abc" }, "Development");
        Assert.Equal("development", dev.Find("sk-dev-abc")?.Tenant);

        var production = Create(new ApiKeyOptions { DevelopmentKey = "sk-dev-abc" }, "Production");
        Assert.Null(production.Find("sk-dev-abc"));
        Assert.Equal(0, production.Count);

        var configured = Create(new ApiKeyOptions { DevelopmentKey = "sk-dev-abc", Keys = [new ApiKeyEntry { Name = "a", Key = "sk-a" }] }, "Development");
        Assert.Null(configured.Find("sk-dev-abc"));
        Assert.NotNull(configured.Find("sk-a"));
    }

    [Fact]
    public void BadEntries_EveryErrorNamed()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Create(new ApiKeyOptions
        {
            Keys =
            [
                new ApiKeyEntry { Key = "sk-no-name" },
                new ApiKeyEntry { Name = "b", KeyHash = "not-hex" },
                new ApiKeyEntry { Name = "c", Key = "sk-dup" },
                new ApiKeyEntry { Name = "d", Key = "sk-dup" },
            ],
        }));

        Assert.Contains(error.Failures, f => f.Contains("Gateway:Keys:0:Name", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Gateway:Keys:1", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Gateway:Keys:3", StringComparison.Ordinal) && f.Contains("twice", StringComparison.Ordinal));
        Assert.DoesNotContain(error.Failures, f => f.Contains("sk-dup", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Bearer sk-a", true)]
    [InlineData("bearer sk-a", true)]
    [InlineData("Bearer  sk-a", false)]
    [InlineData("Bearer sk-a sk-b", false)]
    [InlineData("Bearer sk-a,Bearer sk-a", false)]
    [InlineData("Bearer sk-\u00e9", false)]
    [InlineData("Bearer sk-a\t", false)]
    [InlineData("Token sk-a", false)]
    [InlineData("Bearer ", false)]
    [InlineData("", false)]
    public void BearerToken_StrictParsing(string header, bool valid)
    {
        Assert.Equal(valid, BearerToken.TryRead(header.AsSpan(), out var token));
        if (valid)
        {
            Assert.Equal("sk-a", token.ToString());
        }
    }

    [Fact]
    public void BearerToken_TwoHeaderValues_Rejected()
    {
        Assert.False(BearerToken.TryRead(new Microsoft.Extensions.Primitives.StringValues(["Bearer sk-a", "Bearer sk-a"]), out _));
        Assert.False(BearerToken.TryRead(default(Microsoft.Extensions.Primitives.StringValues), out _));
    }
}
