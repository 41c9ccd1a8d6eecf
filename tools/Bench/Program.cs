using NetOnnx.Tools;

// bench: the command-line front of the runtime.
return Cli.Run(args, Console.Out, Console.Error);
