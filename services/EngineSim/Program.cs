// Placeholder entry point replaced by the EngineSim implementation (Cli/ + Api/).
return 0;
