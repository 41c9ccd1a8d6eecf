using NetOnnx.Runtime;
using NetOnnx.Tools;

// bench: the command-line front of the runtime. Every verb prints a one-line error and exits non-zero on bad input.
try
{
    return Cli.Execute(args, Console.Out);
}
catch (OnnxException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
catch (CliUsageException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine("run 'bench help' for usage");
    return 2;
}
catch (IOException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
