using System.IO.Compression;

namespace NetOnnx.Kernels.Vision;

/// <summary>A decoded image: 8-bit samples, row-major, interleaved; Channels is 1 (gray), 3 (RGB) or 4 (RGBA).</summary>
public sealed record DecodedImage(int Width, int Height, int Channels, byte[] Pixels);

/// <summary>The stream is not a valid image (as opposed to a valid image in a format we do not decode).</summary>
public sealed class ImageFormatException(string message) : Exception(message);

/// <summary>
/// Decoders for the formats ImageDecoder names that are practical without native libraries: BMP, PNM,
/// TIFF (uncompressed, PackBits, LZW, Deflate), PNG and baseline JPEG (bit-exact with libjpeg's default
/// integer IDCT and fancy chroma upsampling).
/// </summary>
public static class ImageCodecs
{
    public static string? Sniff(ReadOnlySpan<byte> d)
    {
        if (d.Length >= 8 && d[0] == 0x89 && d[1] == 'P' && d[2] == 'N' && d[3] == 'G') return "png";
        if (d.Length >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "jpeg";
        if (d.Length >= 2 && d[0] == 'B' && d[1] == 'M') return "bmp";
        if (d.Length >= 4 && ((d[0] == 'I' && d[1] == 'I' && d[2] == 42 && d[3] == 0) || (d[0] == 'M' && d[1] == 'M' && d[2] == 0 && d[3] == 42))) return "tiff";
        if (d.Length >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6') return "pnm";
        if (d.Length >= 12 && d[0] == 'R' && d[1] == 'I' && d[2] == 'F' && d[3] == 'F' && d[8] == 'W' && d[9] == 'E' && d[10] == 'B' && d[11] == 'P') return "webp";
        if (d.Length >= 12 && d[4] == 'j' && d[5] == 'P' && d[6] == ' ' && d[7] == ' ') return "jpeg2000";
        if (d.Length >= 4 && d[0] == 0xFF && d[1] == 0x4F && d[2] == 0xFF && d[3] == 0x51) return "jpeg2000";
        return null;
    }

    /// <summary>Decodes a supported format; throws NotSupportedException for a known but unsupported one.</summary>
    public static DecodedImage Decode(byte[] data)
    {
        string? fmt = Sniff(data);
        try
        {
            return fmt switch
            {
                "png" => Png.Decode(data),
                "jpeg" => Jpeg.Decode(data),
                "bmp" => DecodeBmp(data),
                "tiff" => DecodeTiff(data),
                "pnm" => DecodePnm(data),
                null => throw new ImageFormatException("the stream is not in a recognised image format"),
                _ => throw new NotSupportedException($"{fmt} images are not supported by this runtime's ImageDecoder"),
            };
        }
        catch (Exception e) when (e is not (ImageFormatException or NotSupportedException or OutOfMemoryException))
        {
            throw new ImageFormatException($"corrupt {fmt} stream: {e.Message}");
        }
    }

    private static void Check(bool ok, string what) { if (!ok) throw new ImageFormatException(what); }

    internal static void CheckSize(long w, long h)
    {
        Check(w > 0 && h > 0 && w * h <= (1L << 28), $"invalid image size {w}x{h}");
    }

    // ---------------- BMP ----------------
    private static DecodedImage DecodeBmp(byte[] d)
    {
        int dataOff = BitConverter.ToInt32(d, 10);
        int hdr = BitConverter.ToInt32(d, 14);
        Check(hdr >= 40, "unsupported BMP header");
        int w = BitConverter.ToInt32(d, 18), hRaw = BitConverter.ToInt32(d, 22);
        int bpp = BitConverter.ToUInt16(d, 28), comp = BitConverter.ToInt32(d, 30);
        bool topDown = hRaw < 0;
        int h = Math.Abs(hRaw);
        CheckSize(w, h);
        Check(comp == 0 || (comp == 3 && bpp is 16 or 32), $"BMP compression {comp} is not supported");
        int colors = BitConverter.ToInt32(d, 46);
        int stride = (bpp * w + 31) / 32 * 4;
        var px = new byte[w * h * 3];
        uint rm = 0xFF0000, gm = 0xFF00, bm = 0xFF;
        if (bpp == 16 && comp == 0) { rm = 0x7C00; gm = 0x3E0; bm = 0x1F; }
        if (comp == 3) { rm = BitConverter.ToUInt32(d, 54); gm = BitConverter.ToUInt32(d, 58); bm = BitConverter.ToUInt32(d, 62); }
        int palOff = 14 + hdr;
        if (bpp <= 8 && colors == 0) colors = 1 << bpp;
        for (int y = 0; y < h; y++)
        {
            int row = dataOff + (topDown ? y : h - 1 - y) * stride;
            for (int x = 0; x < w; x++)
            {
                int o = (y * w + x) * 3;
                if (bpp is 24 or 32 && comp == 0)
                {
                    int p = row + x * (bpp / 8);
                    px[o] = d[p + 2]; px[o + 1] = d[p + 1]; px[o + 2] = d[p];
                }
                else if (bpp is 16 or 32)
                {
                    uint v = bpp == 16 ? BitConverter.ToUInt16(d, row + x * 2) : BitConverter.ToUInt32(d, row + x * 4);
                    px[o] = Mask(v, rm); px[o + 1] = Mask(v, gm); px[o + 2] = Mask(v, bm);
                }
                else if (bpp is 1 or 2 or 4 or 8)
                {
                    int bit = x * bpp;
                    int idx = (d[row + bit / 8] >> (8 - bpp - bit % 8)) & ((1 << bpp) - 1);
                    Check(idx < colors, "BMP palette index out of range");
                    int p = palOff + idx * 4;
                    px[o] = d[p + 2]; px[o + 1] = d[p + 1]; px[o + 2] = d[p];
                }
                else throw new ImageFormatException($"BMP with {bpp} bits per pixel is not supported");
            }
        }
        return new DecodedImage(w, h, 3, px);
    }

    private static byte Mask(uint v, uint mask)
    {
        if (mask == 0) return 0;
        int shift = System.Numerics.BitOperations.TrailingZeroCount(mask);
        uint max = mask >> shift;
        return (byte)(((v & mask) >> shift) * 255 / max);
    }

    // ---------------- PNM ----------------
    private static DecodedImage DecodePnm(byte[] d)
    {
        int pos = 2;
        char kind = (char)d[1];
        long Next()
        {
            while (true)
            {
                while (pos < d.Length && char.IsWhiteSpace((char)d[pos])) pos++;
                if (pos < d.Length && d[pos] == '#') { while (pos < d.Length && d[pos] != '\n') pos++; continue; }
                break;
            }
            Check(pos < d.Length && char.IsAsciiDigit((char)d[pos]), "malformed PNM header");
            long v = 0;
            while (pos < d.Length && char.IsAsciiDigit((char)d[pos])) { v = checked(v * 10 + d[pos] - '0'); pos++; }
            return v;
        }
        long w = Next(), h = Next();
        CheckSize(w, h);
        long maxv = kind is '1' or '4' ? 1 : Next();
        Check(maxv is > 0 and < 65536, "invalid PNM maxval");
        int ch = kind is '3' or '6' ? 3 : 1;
        int n = (int)(w * h * ch);
        var px = new byte[n];
        byte Scale(long v) => (byte)(maxv == 255 ? v : Math.Min(255, (v * 255 + maxv / 2) / maxv));
        if (kind is '1' or '2' or '3')
        {
            for (int i = 0; i < n; i++)
            {
                if (kind == '1')
                {
                    while (pos < d.Length && d[pos] != '0' && d[pos] != '1') pos++;
                    Check(pos < d.Length, "truncated PNM data");
                    px[i] = d[pos++] == '1' ? (byte)0 : (byte)255;
                }
                else px[i] = Scale(Next());
            }
        }
        else
        {
            pos++; // the single whitespace after the header
            if (kind == '4')
            {
                int stride = (int)((w + 7) / 8);
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        px[y * w + x] = ((d[pos + y * stride + x / 8] >> (7 - x % 8)) & 1) != 0 ? (byte)0 : (byte)255;
            }
            else if (maxv < 256) for (int i = 0; i < n; i++) px[i] = Scale(d[pos + i]);
            else for (int i = 0; i < n; i++) px[i] = Scale(d[pos + 2 * i] << 8 | d[pos + 2 * i + 1]);
        }
        return new DecodedImage((int)w, (int)h, ch, px);
    }

    // ---------------- TIFF ----------------
    private static DecodedImage DecodeTiff(byte[] d)
    {
        bool le = d[0] == 'I';
        int U16(int o) => le ? d[o] | d[o + 1] << 8 : d[o] << 8 | d[o + 1];
        uint U32(int o) => le ? (uint)(d[o] | d[o + 1] << 8 | d[o + 2] << 16 | d[o + 3] << 24) : (uint)(d[o] << 24 | d[o + 1] << 16 | d[o + 2] << 8 | d[o + 3]);
        int ifd = checked((int)U32(4));
        int count = U16(ifd);
        var tags = new Dictionary<int, uint[]>();
        for (int i = 0; i < count; i++)
        {
            int e = ifd + 2 + i * 12;
            int tag = U16(e), type = U16(e + 2);
            int n = checked((int)U32(e + 4));
            int size = type switch { 3 => 2, 4 => 4, 1 or 2 or 6 or 7 => 1, _ => 0 };
            if (size == 0) continue;
            int off = n * size <= 4 ? e + 8 : checked((int)U32(e + 8));
            var vals = new uint[n];
            for (int k = 0; k < n; k++)
                vals[k] = size switch { 2 => (uint)U16(off + 2 * k), 4 => U32(off + 4 * k), _ => d[off + k] };
            tags[tag] = vals;
        }
        uint Tag(int t, uint def) => tags.TryGetValue(t, out var v) && v.Length > 0 ? v[0] : def;
        int w = (int)Tag(256, 0), h = (int)Tag(257, 0);
        CheckSize(w, h);
        int spp = (int)Tag(277, 1);
        int bits = (int)Tag(258, 1);
        int comp = (int)Tag(259, 1), photo = (int)Tag(262, 1), planar = (int)Tag(284, 1), predictor = (int)Tag(317, 1);
        Check(bits == 8 || (bits == 1 && spp == 1), $"TIFF with {bits} bits per sample is not supported");
        Check(planar == 1 || spp == 1, "planar TIFF is not supported");
        var offs = tags.GetValueOrDefault(273) ?? throw new ImageFormatException("TIFF has no strips");
        var lens = tags.GetValueOrDefault(279) ?? throw new ImageFormatException("TIFF has no strip sizes");
        int rps = (int)Math.Min(Tag(278, (uint)h), (uint)h);
        int rowBytes = (w * spp * bits + 7) / 8;
        var raw = new byte[rowBytes * h];
        int filled = 0;
        for (int s = 0; s < offs.Length && filled < raw.Length; s++)
        {
            var strip = d.AsSpan(checked((int)offs[s]), checked((int)lens[s]));
            int want = Math.Min(raw.Length - filled, rowBytes * rps);
            byte[] dec = comp switch
            {
                1 => strip.ToArray(),
                32773 => PackBits(strip, want),
                5 => Lzw(strip, want),
                8 or 32946 => Inflate(strip.ToArray()),
                _ => throw new ImageFormatException($"TIFF compression {comp} is not supported"),
            };
            int take = Math.Min(want, dec.Length);
            dec.AsSpan(0, take).CopyTo(raw.AsSpan(filled));
            filled += want;
        }
        if (predictor == 2 && bits == 8)
            for (int y = 0; y < h; y++)
                for (int i = spp; i < rowBytes; i++) raw[y * rowBytes + i] += raw[y * rowBytes + i - spp];
        int outCh = photo == 3 ? 3 : Math.Min(spp, 4) == 2 ? 1 : Math.Min(spp, 4);
        var px = new byte[w * h * outCh];
        var cmap = photo == 3 ? tags.GetValueOrDefault(320) ?? throw new ImageFormatException("palette TIFF without colour map") : null;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int o = (y * w + x) * outCh;
                if (bits == 1)
                {
                    int v = (raw[y * rowBytes + x / 8] >> (7 - x % 8)) & 1;
                    px[o] = (byte)((v == 1) == (photo == 1) ? 255 : 0);
                    continue;
                }
                int p = y * rowBytes + x * spp;
                if (cmap is not null)
                {
                    int idx = raw[p], nc = cmap.Length / 3;
                    for (int c = 0; c < 3; c++) px[o + c] = (byte)(cmap[c * nc + idx] >> 8);
                }
                else for (int c = 0; c < outCh; c++) px[o + c] = photo == 0 ? (byte)(255 - raw[p + c]) : raw[p + c];
            }
        return new DecodedImage(w, h, outCh, px);
    }

    private static byte[] PackBits(ReadOnlySpan<byte> s, int want)
    {
        var o = new List<byte>(want);
        int i = 0;
        while (i < s.Length && o.Count < want)
        {
            sbyte n = (sbyte)s[i++];
            if (n >= 0) { for (int k = 0; k <= n && i < s.Length; k++) o.Add(s[i++]); }
            else if (n != -128) { byte b = s[i++]; for (int k = 0; k < 1 - n; k++) o.Add(b); }
        }
        return o.ToArray();
    }

    /// <summary>TIFF LZW (MSB-first codes, early change).</summary>
    private static byte[] Lzw(ReadOnlySpan<byte> s, int want)
    {
        var o = new List<byte>(want);
        var dict = new List<byte[]>(4096);
        void Reset() { dict.Clear(); for (int i = 0; i < 256; i++) dict.Add([(byte)i]); dict.Add([]); dict.Add([]); }
        Reset();
        int bitPos = 0, width = 9;
        byte[]? prev = null;
        while (bitPos + width <= s.Length * 8)
        {
            int code = 0;
            for (int k = 0; k < width; k++, bitPos++) code = code << 1 | (s[bitPos >> 3] >> (7 - (bitPos & 7))) & 1;
            if (code == 256) { Reset(); width = 9; prev = null; continue; }
            if (code == 257) break;
            byte[] entry;
            if (code < dict.Count) entry = dict[code];
            else if (code == dict.Count && prev is not null) entry = [.. prev, prev[0]];
            else throw new ImageFormatException("corrupt TIFF LZW data");
            o.AddRange(entry);
            if (prev is not null) dict.Add([.. prev, entry[0]]);
            prev = entry;
            if (dict.Count + 1 >= (1 << width) && width < 12) width++;
        }
        return o.ToArray();
    }

    internal static byte[] Inflate(byte[] zlib)
    {
        using var ms = new MemoryStream(zlib);
        using var z = new ZLibStream(ms, CompressionMode.Decompress);
        using var o = new MemoryStream();
        z.CopyTo(o);
        return o.ToArray();
    }

    // ---------------- PNG ----------------
    private static class Png
    {
        public static DecodedImage Decode(byte[] d)
        {
            int pos = 8;
            int w = 0, h = 0, depth = 0, ctype = 0, interlace = 0;
            byte[]? pal = null;
            var idat = new MemoryStream();
            bool seenHeader = false;
            while (pos + 8 <= d.Length)
            {
                int len = d[pos] << 24 | d[pos + 1] << 16 | d[pos + 2] << 8 | d[pos + 3];
                Check(len >= 0 && pos + 12 + len <= d.Length, "truncated PNG chunk");
                string type = System.Text.Encoding.ASCII.GetString(d, pos + 4, 4);
                var body = d.AsSpan(pos + 8, len);
                switch (type)
                {
                    case "IHDR":
                        w = body[0] << 24 | body[1] << 16 | body[2] << 8 | body[3];
                        h = body[4] << 24 | body[5] << 16 | body[6] << 8 | body[7];
                        depth = body[8]; ctype = body[9]; interlace = body[12];
                        seenHeader = true;
                        break;
                    case "PLTE": pal = body.ToArray(); break;
                    case "IDAT": idat.Write(body); break;
                }
                pos += 12 + len;
                if (type == "IEND") break;
            }
            Check(seenHeader, "PNG has no IHDR");
            CheckSize(w, h);
            int ch = ctype switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => throw new ImageFormatException($"invalid PNG colour type {ctype}") };
            Check(depth is 1 or 2 or 4 or 8 or 16, $"invalid PNG bit depth {depth}");
            Check(ctype != 3 || pal is not null, "palette PNG without PLTE");
            var raw = Inflate(idat.ToArray());
            int bitsPerPixel = ch * depth;
            int bpp = Math.Max(1, bitsPerPixel / 8);
            // Samples as 16-bit values per pixel channel, before colour conversion.
            var samples = new ushort[w * h * ch];
            int rp = 0;
            if (interlace == 0) Pass(raw, ref rp, samples, w, h, ch, depth, bpp, 0, 0, 1, 1);
            else
            {
                int[] xs = [0, 4, 0, 2, 0, 1, 0], ys = [0, 0, 4, 0, 2, 0, 1], dx = [8, 8, 4, 4, 2, 2, 1], dy = [8, 8, 8, 4, 4, 2, 2];
                for (int p = 0; p < 7; p++) Pass(raw, ref rp, samples, w, h, ch, depth, bpp, xs[p], ys[p], dx[p], dy[p]);
            }
            int outCh = ctype switch { 0 => 1, 4 => 1, 6 => 4, _ => 3 };
            var px = new byte[w * h * outCh];
            int maxv = (1 << depth) - 1;
            for (int i = 0; i < w * h; i++)
            {
                if (ctype == 3)
                {
                    int idx = samples[i];
                    Check(idx * 3 + 2 < pal!.Length, "PNG palette index out of range");
                    px[i * 3] = pal[idx * 3]; px[i * 3 + 1] = pal[idx * 3 + 1]; px[i * 3 + 2] = pal[idx * 3 + 2];
                    continue;
                }
                for (int c = 0; c < outCh; c++)
                {
                    int v = samples[i * ch + c];
                    px[i * outCh + c] = depth == 16 ? (byte)(v >> 8) : depth == 8 ? (byte)v : (byte)(v * 255 / maxv);
                }
            }
            return new DecodedImage(w, h, outCh, px);
        }

        private static void Pass(byte[] raw, ref int rp, ushort[] samples, int w, int h, int ch, int depth, int bpp,
            int x0, int y0, int dx, int dy)
        {
            int pw = (w - x0 + dx - 1) / dx, ph = (h - y0 + dy - 1) / dy;
            if (pw <= 0 || ph <= 0) return;
            int stride = (pw * ch * depth + 7) / 8;
            var prev = new byte[stride];
            var cur = new byte[stride];
            for (int r = 0; r < ph; r++)
            {
                Check(rp + 1 + stride <= raw.Length, "truncated PNG image data");
                int filter = raw[rp++];
                Array.Copy(raw, rp, cur, 0, stride);
                rp += stride;
                for (int i = 0; i < stride; i++)
                {
                    int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
                    int pred = filter switch
                    {
                        0 => 0,
                        1 => a,
                        2 => b,
                        3 => (a + b) >> 1,
                        4 => Paeth(a, b, c),
                        _ => throw new ImageFormatException($"invalid PNG filter {filter}"),
                    };
                    cur[i] = (byte)(cur[i] + pred);
                }
                int y = y0 + r * dy;
                for (int xi = 0; xi < pw; xi++)
                {
                    int x = x0 + xi * dx;
                    for (int c = 0; c < ch; c++)
                    {
                        int si = xi * ch + c;
                        int v = depth switch
                        {
                            16 => cur[2 * si] << 8 | cur[2 * si + 1],
                            8 => cur[si],
                            _ => (cur[si * depth / 8] >> (8 - depth - si * depth % 8)) & ((1 << depth) - 1),
                        };
                        samples[(y * w + x) * ch + c] = (ushort)v;
                    }
                }
                (prev, cur) = (cur, prev);
            }
        }

        private static int Paeth(int a, int b, int c)
        {
            int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
            return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }
    }
}
