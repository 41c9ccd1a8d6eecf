using NetOnnx.Kernels.Vision;

namespace NetOnnx.Runtime.Operators.Vision;

/// <summary>
/// ImageDecoder (20): encoded bytes to uint8 [H, W, 3] (RGB/BGR) or [H, W, 1] (Grayscale). A corrupt or
/// unrecognised stream gives an empty [0, 0, C] result as the spec asks; a recognised format this runtime
/// cannot decode (WebP, JPEG 2000, progressive JPEG) is an error saying so.
/// </summary>
[OpKernel("ImageDecoder", 20)]
public sealed class ImageDecoder : OpKernel
{
    private readonly string _format;

    public ImageDecoder(KernelInfo info)
    {
        _format = info.GetString("pixel_format", "RGB");
        if (_format is not ("RGB" or "BGR" or "Grayscale")) throw info.Error($"unsupported pixel_format '{_format}'");
    }

    public override void Compute(KernelContext ctx)
    {
        var input = ctx.Input(0);
        if (input.ElementType != DataType.UInt8 || input.Rank != 1)
            throw ctx.Error($"encoded_stream must be a 1-D uint8 tensor, got {input.ElementType.OnnxName()} of rank {input.Rank}");
        int outCh = _format == "Grayscale" ? 1 : 3;
        DecodedImage img;
        try
        {
            img = ImageCodecs.Decode(input.ReadOnlySpan<byte>().ToArray());
        }
        catch (ImageFormatException)
        {
            ctx.Output(0, DataType.UInt8, [0, 0, outCh]);
            return;
        }
        catch (NotSupportedException e)
        {
            throw ctx.Error(e.Message);
        }
        int n = img.Width * img.Height;
        var y = ctx.OutputUninitialized(0, DataType.UInt8, [img.Height, img.Width, outCh]);
        var o = y.Span<byte>();
        var p = img.Pixels;
        int c = img.Channels;
        for (int i = 0; i < n; i++)
        {
            byte r, g, b;
            if (c < 3) r = g = b = p[i * c];
            else { r = p[i * c]; g = p[i * c + 1]; b = p[i * c + 2]; }
            switch (_format)
            {
                case "RGB": o[i * 3] = r; o[i * 3 + 1] = g; o[i * 3 + 2] = b; break;
                case "BGR": o[i * 3] = b; o[i * 3 + 1] = g; o[i * 3 + 2] = r; break;
                default:
                    // ITU-R 601 luma in 16-bit fixed point, as Pillow's RGB -> L conversion computes it.
                    o[i] = c < 3 ? r : (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
                    break;
            }
        }
    }
}
