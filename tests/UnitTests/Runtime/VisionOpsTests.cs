using System.IO.Compression;
using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>Vision operators on cases the backend suite does not cover: old opsets, edge cases, image formats.</summary>
public class VisionOpsTests
{
    /// <summary>Runs one node; inputs are given in order (null = omitted optional input).</summary>
    private static Tensor RunOne(string op, int opset, Tensor?[] inputs, params NodeAttribute[] attrs) => RunOne(op, opset, 1, inputs, attrs);

    private static Tensor RunOne(string op, int opset, int threads, Tensor?[] inputs, params NodeAttribute[] attrs)
    {
        var m = new Model();
        m.Opsets[""] = opset;
        var g = m.Graph;
        var names = new List<string>();
        var feeds = new Dictionary<string, Tensor>();
        for (int i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] is null) { names.Add(""); continue; }
            string n = $"in{i}";
            names.Add(n);
            g.Inputs.Add(new ValueInfo(n, OnnxType.Tensor(inputs[i]!.ElementType, (Dim[]?)null)));
            feeds[n] = inputs[i]!;
        }
        g.Nodes.Add(new Node(op, names, ["y"], "node", "", attrs));
        g.Outputs.Add(new ValueInfo("y", null));
        var s = new Session(m, new SessionOptions { IntraOpThreads = threads });
        return s.Run(feeds)["y"];
    }

    private static Tensor F(float[] v, params int[] shape) => Tensor.Create(v, shape);

    [Fact]
    public void ThreadedResizeAndGridSampleMatchSingleThreaded()
    {
        var rnd = new Random(1);
        var x = F(Enumerable.Range(0, 4 * 64 * 64).Select(_ => (float)rnd.NextDouble()).ToArray(), 1, 4, 64, 64);
        var sizes = Tensor.Create(new long[] { 1, 4, 100, 130 }, 4);
        var a = RunOne("Resize", 19, 1, [x, null, null, sizes], NodeAttribute.Of("mode", "cubic"), NodeAttribute.Of("antialias", 1L));
        var b = RunOne("Resize", 19, 2, [x, null, null, sizes], NodeAttribute.Of("mode", "cubic"), NodeAttribute.Of("antialias", 1L));
        Assert.Equal(a.ToArray<float>(), b.ToArray<float>());
        var grid = F(Enumerable.Range(0, 50 * 60 * 2).Select(_ => (float)(rnd.NextDouble() * 2.4 - 1.2)).ToArray(), 1, 50, 60, 2);
        var g1 = RunOne("GridSample", 20, 1, [x, grid], NodeAttribute.Of("mode", "cubic"), NodeAttribute.Of("padding_mode", "reflection"));
        var g2 = RunOne("GridSample", 20, 2, [x, grid], NodeAttribute.Of("mode", "cubic"), NodeAttribute.Of("padding_mode", "reflection"));
        Assert.Equal([1, 4, 50, 60], g1.Shape);
        Assert.Equal(g1.ToArray<float>(), g2.ToArray<float>());
    }

    [Fact]
    public void ThreadedDeformConvMatchesSingleThreaded()
    {
        var rnd = new Random(2);
        float[] R(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((rnd.NextDouble() - 0.5) * scale)).ToArray();
        var x = F(R(2 * 8 * 20 * 20, 2), 2, 8, 20, 20);
        var w = F(R(16 * 4 * 3 * 3, 1), 16, 4, 3, 3);
        var off = F(R(2 * 2 * 18 * 20 * 20, 3), 2, 36, 20, 20);
        var b = F(R(16, 1), 16);
        var mask = F(R(2 * 18 * 20 * 20, 2), 2, 18, 20, 20);
        NodeAttribute[] attrs = [NodeAttribute.Of("group", 2L), NodeAttribute.Of("offset_group", 2L), NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 })];
        var y1 = RunOne("DeformConv", 19, 1, [x, w, off, b, mask], attrs);
        var y2 = RunOne("DeformConv", 19, 2, [x, w, off, b, mask], attrs);
        Assert.Equal([2, 16, 20, 20], y1.Shape);
        Assert.Equal(y1.ToArray<float>(), y2.ToArray<float>());
    }

    [Fact]
    public void Upsample7NearestUsesScalesAttribute()
    {
        var y = RunOne("Upsample", 7, [F([1, 2, 3, 4], 1, 1, 2, 2)], NodeAttribute.Of("scales", new float[] { 1, 1, 2, 3 }));
        Assert.Equal([1, 1, 4, 6], y.Shape);
        Assert.Equal(new float[] { 1, 1, 1, 2, 2, 2 }, y.ToArray<float>()[..6]);
        Assert.Equal(new float[] { 3, 3, 3, 4, 4, 4 }, y.ToArray<float>()[12..18]);
    }

    [Fact]
    public void Upsample9LinearIsAsymmetric()
    {
        var y = RunOne("Upsample", 9, [F([1, 3], 1, 2), F([1, 2], 2)], NodeAttribute.Of("mode", "linear"));
        // Asymmetric mapping x/2 with edge clamping: 1, 2, 3, 3.
        Assert.Equal(new float[] { 1, 2, 3, 3 }, y.ToArray<float>());
    }

    [Fact]
    public void Resize10DownsampleNearest()
    {
        var y = RunOne("Resize", 10, [F([1, 2, 3, 4, 5, 6, 7, 8], 1, 8), F([1, 0.5f], 2)]);
        Assert.Equal(new float[] { 1, 3, 5, 7 }, y.ToArray<float>());
    }

    [Fact]
    public void ResizeNearestKeepsIntegerTypes()
    {
        var x = Tensor.Create(new long[] { 10, 20, 30 }, 3);
        var y = RunOne("Resize", 13, [x, null, F([2f], 1)], NodeAttribute.Of("nearest_mode", "floor"), NodeAttribute.Of("coordinate_transformation_mode", "asymmetric"));
        Assert.Equal(new long[] { 10, 10, 20, 20, 30, 30 }, y.ToArray<long>());
    }

    [Fact]
    public void ResizeLinearOnUInt8Rounds()
    {
        var x = Tensor.Create(new byte[] { 0, 255 }, 2);
        var y = RunOne("Resize", 19, [x, null, null, Tensor.Create(new long[] { 3 }, 1)], NodeAttribute.Of("mode", "linear"),
            NodeAttribute.Of("coordinate_transformation_mode", "align_corners"));
        Assert.Equal(new byte[] { 0, 128, 255 }, y.ToArray<byte>());
    }

    [Fact]
    public void ResizeRejectsScalesAndSizesTogether()
    {
        var ex = Assert.ThrowsAny<OnnxException>(() => RunOne("Resize", 13, [F([1, 2], 2), null, F([2f], 1), Tensor.Create(new long[] { 4 }, 1)]));
        Assert.Contains("Resize node 'node'", ex.Message);
    }

    [Fact]
    public void NonMaxSuppressionWithoutLimitSelectsNothing()
    {
        var boxes = F([0, 0, 1, 1], 1, 1, 4);
        var scores = F([0.9f], 1, 1, 1);
        var y = RunOne("NonMaxSuppression", 11, [boxes, scores]);
        Assert.Equal([0, 3], y.Shape);
    }

    [Fact]
    public void RoiAlign10DefaultsToOutputHalfPixel()
    {
        var x = F(Enumerable.Range(0, 16).Select(i => (float)i).ToArray(), 1, 1, 4, 4);
        var rois = F([0, 0, 3, 3], 1, 4);
        var y = RunOne("RoiAlign", 10, [x, rois, Tensor.Create(new long[] { 0 }, 1)], NodeAttribute.Of("sampling_ratio", 1L));
        // One bin, one sample at the roi centre (1.5, 1.5) without the half-pixel shift.
        Assert.Equal(7.5f, y.ToArray<float>()[0], 5);
    }

    [Fact]
    public void ImageDecoderReadsPngWithFiltersAndGrayscale()
    {
        // 2x2 RGB, rows filtered with Sub and Up.
        byte[] raw = [1, 10, 20, 30, 5, 5, 5, 2, 1, 1, 1, 0, 0, 0];
        var png = Png(2, 2, 2, 8, raw);
        var y = RunOne("ImageDecoder", 20, [Tensor.Create(png, png.Length)]);
        Assert.Equal([2, 2, 3], y.Shape);
        Assert.Equal(new byte[] { 10, 20, 30, 15, 25, 35, 11, 21, 31, 15, 25, 35 }, y.ToArray<byte>());
        var bgr = RunOne("ImageDecoder", 20, [Tensor.Create(png, png.Length)], NodeAttribute.Of("pixel_format", "BGR"));
        Assert.Equal(new byte[] { 30, 20, 10 }, bgr.ToArray<byte>()[..3]);
        var gray = RunOne("ImageDecoder", 20, [Tensor.Create(png, png.Length)], NodeAttribute.Of("pixel_format", "Grayscale"));
        Assert.Equal([2, 2, 1], gray.Shape);
        Assert.Equal((byte)((10 * 19595 + 20 * 38470 + 30 * 7471 + 0x8000) >> 16), gray.ToArray<byte>()[0]);
    }

    [Fact]
    public void ImageDecoderReadsAsciiPgm()
    {
        var pgm = System.Text.Encoding.ASCII.GetBytes("P2\n# c\n2 1\n15\n0 15\n");
        var y = RunOne("ImageDecoder", 20, [Tensor.Create(pgm, pgm.Length)]);
        Assert.Equal(new byte[] { 0, 0, 0, 255, 255, 255 }, y.ToArray<byte>());
    }

    [Fact]
    public void ImageDecoderGivesEmptyForGarbage()
    {
        byte[] junk = [1, 2, 3, 4, 5];
        var y = RunOne("ImageDecoder", 20, [Tensor.Create(junk, junk.Length)]);
        Assert.Equal([0, 0, 3], y.Shape);
    }

    private static byte[] Png(int w, int h, int colorType, int depth, byte[] filtered)
    {
        var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10]);
        void Chunk(string type, byte[] body)
        {
            ms.Write([(byte)(body.Length >> 24), (byte)(body.Length >> 16), (byte)(body.Length >> 8), (byte)body.Length]);
            ms.Write(System.Text.Encoding.ASCII.GetBytes(type));
            ms.Write(body);
            ms.Write([0, 0, 0, 0]); // CRC is not checked by the decoder
        }
        Chunk("IHDR", [0, 0, 0, (byte)w, 0, 0, 0, (byte)h, (byte)depth, (byte)colorType, 0, 0, 0]);
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(filtered);
        Chunk("IDAT", z.ToArray());
        Chunk("IEND", []);
        return ms.ToArray();
    }
}
