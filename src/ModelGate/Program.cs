using ModelGate.Cli;

// One executable: `modelgate serve` runs the server, every other verb is a client of its REST API.
return await CliApp.RunAsync(args, Console.Out, Console.Error);
