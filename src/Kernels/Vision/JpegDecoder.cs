namespace NetOnnx.Kernels.Vision;

/// <summary>
/// Baseline / extended-sequential Huffman JPEG decoder. The IDCT, chroma upsampling and YCbCr conversion
/// reproduce libjpeg's defaults (JDCT_ISLOW, fancy upsampling) exactly, since image decoders are compared
/// bit for bit.
/// </summary>
internal static class Jpeg
{
    private static readonly int[] ZigZag =
    [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
        28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
        54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    ];

    private sealed class Huffman
    {
        public readonly int[] MaxCode = new int[18];
        public readonly int[] ValPtr = new int[17];
        public readonly int[] MinCode = new int[17];
        public byte[] Values = [];
    }

    private sealed class Component
    {
        public int Id, H, V, Tq, Td, Ta;
        public int BlocksW, BlocksH;
        public short[] Coeffs = [];
        public int Pred;
    }

    private sealed class BitReader(byte[] data, int pos)
    {
        public int Pos = pos;
        private uint _acc;
        private int _bits;
        private bool _marker;

        public int Bit()
        {
            if (_bits == 0) Fill();
            _bits--;
            return (int)(_acc >> _bits) & 1;
        }

        private void Fill()
        {
            if (_marker || Pos >= data.Length) { _acc = 0; _bits = 8; return; } // pad with zeros past a marker
            int b = data[Pos];
            if (b == 0xFF)
            {
                int n = Pos + 1 < data.Length ? data[Pos + 1] : 0xD9;
                if (n == 0) { Pos += 2; }
                else { _marker = true; _acc = 0; _bits = 8; return; }
            }
            else Pos++;
            _acc = (uint)b;
            _bits = 8;
        }

        public int Receive(int n)
        {
            int v = 0;
            for (int i = 0; i < n; i++) v = v << 1 | Bit();
            return v;
        }

        /// <summary>Discards buffered bits and consumes an RSTn marker.</summary>
        public void Restart()
        {
            _bits = 0;
            _marker = false;
            while (Pos + 1 < data.Length && !(data[Pos] == 0xFF && data[Pos + 1] >= 0xD0 && data[Pos + 1] <= 0xD7)) Pos++;
            if (Pos + 1 < data.Length) Pos += 2;
        }
    }

    private static int Decode(BitReader br, Huffman h)
    {
        int code = br.Bit();
        for (int l = 1; l <= 16; l++)
        {
            if (code <= h.MaxCode[l]) return h.Values[h.ValPtr[l] + code - h.MinCode[l]];
            code = code << 1 | br.Bit();
        }
        throw new ImageFormatException("corrupt JPEG Huffman data");
    }

    private static int Extend(int v, int t) => t == 0 ? 0 : v < 1 << (t - 1) ? v - (1 << t) + 1 : v;

    public static DecodedImage Decode(byte[] d)
    {
        var qt = new int[4][];
        var dcTables = new Huffman?[4];
        var acTables = new Huffman?[4];
        Component[] comps = [];
        int width = 0, height = 0, hmax = 1, vmax = 1, restart = 0, mcusX = 0, mcusY = 0;
        bool frame = false, adobe = false, progressive = false; int adobeTransform = -1;
        int pos = 2;
        while (pos < d.Length)
        {
            if (d[pos] != 0xFF) { pos++; continue; }
            int marker = d[pos + 1];
            pos += 2;
            if (marker == 0xFF) { pos--; continue; }
            if (marker == 0xD9) break;
            if (marker is >= 0xD0 and <= 0xD7 or 0x01) continue;
            int len = d[pos] << 8 | d[pos + 1];
            int seg = pos + 2, end = pos + len;
            if (end > d.Length) throw new ImageFormatException("truncated JPEG segment");
            switch (marker)
            {
                case 0xDB:
                    for (int p = seg; p < end;)
                    {
                        int pq = d[p] >> 4, tq = d[p] & 15;
                        p++;
                        var t = new int[64];
                        for (int k = 0; k < 64; k++) { t[ZigZag[k]] = pq == 0 ? d[p] : d[p] << 8 | d[p + 1]; p += pq == 0 ? 1 : 2; }
                        qt[tq & 3] = t;
                    }
                    break;
                case 0xC4:
                    for (int p = seg; p < end;)
                    {
                        int tc = d[p] >> 4, th = d[p] & 15;
                        p++;
                        var h = new Huffman();
                        int total = 0;
                        var counts = new int[17];
                        for (int l = 1; l <= 16; l++) { counts[l] = d[p + l - 1]; total += counts[l]; }
                        p += 16;
                        h.Values = d.AsSpan(p, total).ToArray();
                        p += total;
                        int code = 0, k = 0;
                        for (int l = 1; l <= 16; l++)
                        {
                            h.ValPtr[l] = k;
                            h.MinCode[l] = code;
                            code += counts[l];
                            k += counts[l];
                            h.MaxCode[l] = counts[l] > 0 ? code - 1 : -1;
                            code <<= 1;
                        }
                        if (tc == 0) dcTables[th & 3] = h; else acTables[th & 3] = h;
                    }
                    break;
                case 0xC0 or 0xC1 or 0xC2:
                    {
                        progressive = marker == 0xC2;
                        if (d[seg] != 8) throw new NotSupportedException($"{d[seg]}-bit JPEG is not supported");
                        height = d[seg + 1] << 8 | d[seg + 2];
                        width = d[seg + 3] << 8 | d[seg + 4];
                        int nc = d[seg + 5];
                        if (width <= 0 || height <= 0 || nc is not (1 or 3)) throw new ImageFormatException($"unsupported JPEG frame ({width}x{height}, {nc} components)");
                        ImageCodecs.CheckSize(width, height);
                        comps = new Component[nc];
                        for (int i = 0; i < nc; i++)
                        {
                            int o = seg + 6 + i * 3;
                            comps[i] = new Component { Id = d[o], H = d[o + 1] >> 4, V = d[o + 1] & 15, Tq = d[o + 2] & 3 };
                            if (comps[i].H is < 1 or > 4 || comps[i].V is < 1 or > 4) throw new ImageFormatException("invalid JPEG sampling factors");
                            hmax = Math.Max(hmax, comps[i].H);
                            vmax = Math.Max(vmax, comps[i].V);
                        }
                        mcusX = (width + 8 * hmax - 1) / (8 * hmax);
                        mcusY = (height + 8 * vmax - 1) / (8 * vmax);
                        foreach (var c in comps)
                        {
                            c.BlocksW = mcusX * c.H;
                            c.BlocksH = mcusY * c.V;
                            c.Coeffs = new short[c.BlocksW * c.BlocksH * 64];
                        }
                        frame = true;
                        break;
                    }
                case >= 0xC3 and <= 0xCF when marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                    throw new NotSupportedException("lossless, hierarchical and arithmetic-coded JPEG are not supported");
                case 0xDD: restart = d[seg] << 8 | d[seg + 1]; break;
                case 0xEE:
                    if (len >= 12 && d[seg] == 'A' && d[seg + 1] == 'd' && d[seg + 2] == 'o' && d[seg + 3] == 'b' && d[seg + 4] == 'e')
                    { adobe = true; adobeTransform = d[seg + 11]; }
                    break;
                case 0xDA:
                    {
                        if (!frame) throw new ImageFormatException("JPEG scan before frame header");
                        int ns = d[seg];
                        var sc = new Component[ns];
                        for (int i = 0; i < ns; i++)
                        {
                            int id = d[seg + 1 + i * 2], tables = d[seg + 2 + i * 2];
                            sc[i] = comps.FirstOrDefault(c => c.Id == id) ?? throw new ImageFormatException("JPEG scan names an unknown component");
                            sc[i].Td = tables >> 4 & 3;
                            sc[i].Ta = tables & 3;
                        }
                        int sp = seg + 1 + ns * 2;
                        var spec = new Spectral(progressive ? d[sp] : 0, progressive ? d[sp + 1] : 63, progressive ? d[sp + 2] >> 4 : 0, progressive ? d[sp + 2] & 15 : 0);
                        if (spec.Ss > spec.Se || spec.Se > 63 || (spec.Ss > 0 && ns != 1) || (spec.Ss == 0 && spec.Se != 0 && progressive))
                            throw new ImageFormatException("invalid JPEG progressive scan parameters");
                        pos = DecodeScan(d, end, sc, dcTables, acTables, restart, mcusX, mcusY, width, height, hmax, vmax, spec);
                        continue;
                    }
            }
            pos = end;
        }
        if (!frame) throw new ImageFormatException("JPEG has no frame header");
        foreach (var c in comps) if (qt[c.Tq] is null) throw new ImageFormatException("JPEG quantisation table missing");

        // Sample planes, padded to whole blocks.
        var planes = new byte[comps.Length][];
        for (int i = 0; i < comps.Length; i++) planes[i] = Idct(comps[i], qt[comps[i].Tq]);

        int n = width * height;
        // Upsample each component to full resolution.
        var full = new byte[comps.Length][];
        for (int i = 0; i < comps.Length; i++)
        {
            var c = comps[i];
            int dw = (width * c.H + hmax - 1) / hmax, dh = (height * c.V + vmax - 1) / vmax;
            full[i] = Upsample(planes[i], c.BlocksW * 8, dw, dh, hmax / c.H, vmax / c.V, width, height, hmax % c.H == 0 && vmax % c.V == 0);
        }
        if (comps.Length == 1) return new DecodedImage(width, height, 1, full[0]);
        var rgb = new byte[n * 3];
        bool transform = !adobe || adobeTransform != 0;
        for (int i = 0; i < n; i++)
        {
            int y = full[0][i], cb = full[1][i], cr = full[2][i];
            if (!transform) { rgb[i * 3] = (byte)y; rgb[i * 3 + 1] = (byte)cb; rgb[i * 3 + 2] = (byte)cr; continue; }
            YccToRgb(y, cb, cr, out rgb[i * 3], out rgb[i * 3 + 1], out rgb[i * 3 + 2]);
        }
        return new DecodedImage(width, height, 3, rgb);
    }

    /// <summary>Spectral selection and successive approximation of a scan (baseline: 0, 63, 0, 0).</summary>
    private sealed record Spectral(int Ss, int Se, int Ah, int Al)
    {
        public bool Baseline => Ss == 0 && Se == 63 && Ah == 0 && Al == 0;
        public int EobRun;
    }

    private static int DecodeScan(byte[] d, int pos, Component[] sc, Huffman?[] dcT, Huffman?[] acT, int restart,
        int mcusX, int mcusY, int width, int height, int hmax, int vmax, Spectral spec)
    {
        var br = new BitReader(d, pos);
        foreach (var c in sc) c.Pred = 0;
        int total;
        int compBw = 0;
        if (sc.Length == 1)
        {
            // Non-interleaved: blocks cover just the component's own area.
            var c = sc[0];
            int cw = (width * c.H + hmax - 1) / hmax, ch = (height * c.V + vmax - 1) / vmax;
            compBw = (cw + 7) / 8;
            total = compBw * ((ch + 7) / 8);
        }
        else total = mcusX * mcusY;
        for (int m = 0; m < total; m++)
        {
            if (restart > 0 && m > 0 && m % restart == 0)
            {
                br.Restart();
                foreach (var c in sc) c.Pred = 0;
                spec.EobRun = 0;
            }
            if (sc.Length == 1)
            {
                var c = sc[0];
                DecodeBlock(br, c, dcT, acT, (m / compBw) * c.BlocksW + m % compBw, spec);
                continue;
            }
            int mx = m % mcusX, my = m / mcusX;
            foreach (var c in sc)
                for (int v = 0; v < c.V; v++)
                    for (int h = 0; h < c.H; h++)
                        DecodeBlock(br, c, dcT, acT, (my * c.V + v) * c.BlocksW + mx * c.H + h, spec);
        }
        // Continue after the entropy-coded data: find the next marker that is not RSTn.
        int p = br.Pos;
        while (p + 1 < d.Length && !(d[p] == 0xFF && d[p + 1] != 0 && !(d[p + 1] >= 0xD0 && d[p + 1] <= 0xD7))) p++;
        return p;
    }

    private static void DecodeBlock(BitReader br, Component c, Huffman?[] dcT, Huffman?[] acT, int block, Spectral spec)
    {
        var coef = c.Coeffs.AsSpan(block * 64, 64);
        if (!spec.Baseline) { DecodeProgressive(br, c, dcT, acT, coef, spec); return; }
        var dc = dcT[c.Td] ?? throw new ImageFormatException("JPEG DC table missing");
        var ac = acT[c.Ta] ?? throw new ImageFormatException("JPEG AC table missing");
        int t = Decode(br, dc);
        c.Pred += Extend(br.Receive(t), t);
        coef[0] = (short)c.Pred;
        for (int k = 1; k < 64;)
        {
            int rs = Decode(br, ac);
            int r = rs >> 4, s = rs & 15;
            if (s == 0)
            {
                if (r != 15) break;
                k += 16;
                continue;
            }
            k += r;
            if (k > 63) throw new ImageFormatException("corrupt JPEG AC data");
            coef[ZigZag[k]] = (short)Extend(br.Receive(s), s);
            k++;
        }
    }

    /// <summary>One block of a progressive scan: DC first/refine or AC first/refine (ITU T.81 G.1.2).</summary>
    private static void DecodeProgressive(BitReader br, Component c, Huffman?[] dcT, Huffman?[] acT, Span<short> coef, Spectral spec)
    {
        int al = spec.Al;
        if (spec.Ss == 0)
        {
            if (spec.Ah == 0)
            {
                var dc = dcT[c.Td] ?? throw new ImageFormatException("JPEG DC table missing");
                int t = Decode(br, dc);
                c.Pred += Extend(br.Receive(t), t);
                coef[0] = (short)(c.Pred << al);
            }
            else if (br.Bit() != 0) coef[0] |= (short)(1 << al);
            return;
        }
        var ac = acT[c.Ta] ?? throw new ImageFormatException("JPEG AC table missing");
        if (spec.Ah == 0)
        {
            if (spec.EobRun > 0) { spec.EobRun--; return; }
            for (int k = spec.Ss; k <= spec.Se; k++)
            {
                int rs = Decode(br, ac);
                int r = rs >> 4, s = rs & 15;
                if (s != 0)
                {
                    k += r;
                    if (k > 63) throw new ImageFormatException("corrupt JPEG AC data");
                    coef[ZigZag[k]] = (short)(Extend(br.Receive(s), s) * (1 << al));
                }
                else if (r == 15) k += 15;
                else
                {
                    spec.EobRun = (1 << r) - 1;
                    if (r > 0) spec.EobRun += br.Receive(r);
                    break;
                }
            }
            return;
        }
        // Refinement: one new bit for coefficients already non-zero, and newly non-zero ones of magnitude 1 << al.
        int p1 = 1 << al, m1 = -1 << al;
        int kk = spec.Ss;
        if (spec.EobRun == 0)
        {
            for (; kk <= spec.Se; kk++)
            {
                int rs = Decode(br, ac);
                int r = rs >> 4, s = rs & 15, val = 0;
                if (s != 0) val = br.Bit() != 0 ? p1 : m1;
                else if (r != 15)
                {
                    spec.EobRun = 1 << r;
                    if (r > 0) spec.EobRun += br.Receive(r);
                    break;
                }
                while (kk <= spec.Se)
                {
                    int z = ZigZag[kk];
                    if (coef[z] != 0)
                    {
                        if (br.Bit() != 0 && (coef[z] & p1) == 0) coef[z] += (short)(coef[z] >= 0 ? p1 : m1);
                    }
                    else
                    {
                        if (--r < 0) break;
                    }
                    kk++;
                }
                if (val != 0 && kk <= 63) coef[ZigZag[kk]] = (short)val;
            }
        }
        if (spec.EobRun > 0)
        {
            for (; kk <= spec.Se; kk++)
            {
                int z = ZigZag[kk];
                if (coef[z] != 0 && br.Bit() != 0 && (coef[z] & p1) == 0) coef[z] += (short)(coef[z] >= 0 ? p1 : m1);
            }
            spec.EobRun--;
        }
    }

    // libjpeg jidctint.c constants (CONST_BITS = 13).
    private const int ConstBits = 13, Pass1Bits = 2;
    private const long F0298 = 2446, F0390 = 3196, F0541 = 4433, F0765 = 6270, F0899 = 7373, F1175 = 9633, F1501 = 12299,
        F1847 = 15137, F1961 = 16069, F2053 = 16819, F2562 = 20995, F3072 = 25172;

    private static byte[] Idct(Component c, int[] q)
    {
        int stride = c.BlocksW * 8;
        var plane = new byte[stride * c.BlocksH * 8];
        Span<long> ws = stackalloc long[64];
        Span<long> inp = stackalloc long[8];
        Span<long> outp = stackalloc long[8];
        for (int by = 0; by < c.BlocksH; by++)
            for (int bx = 0; bx < c.BlocksW; bx++)
            {
                var coef = c.Coeffs.AsSpan((by * c.BlocksW + bx) * 64, 64);
                for (int col = 0; col < 8; col++)
                {
                    for (int k = 0; k < 8; k++) inp[k] = (long)coef[k * 8 + col] * q[k * 8 + col];
                    Idct1D(inp, outp, ConstBits - Pass1Bits, 0);
                    for (int k = 0; k < 8; k++) ws[k * 8 + col] = outp[k];
                }
                for (int row = 0; row < 8; row++)
                {
                    for (int k = 0; k < 8; k++) inp[k] = ws[row * 8 + k];
                    Idct1D(inp, outp, ConstBits + Pass1Bits + 3, 0);
                    int o = (by * 8 + row) * stride + bx * 8;
                    for (int k = 0; k < 8; k++)
                    {
                        // range_limit[x & RANGE_MASK]: a 10-bit wrap, then clamp of x + 128.
                        int v = (int)(outp[k] & 1023);
                        if (v >= 512) v -= 1024;
                        plane[o + k] = (byte)Math.Clamp(v + 128, 0, 255);
                    }
                }
            }
        return plane;
    }

    /// <summary>One 8-point pass of jpeg_idct_islow; out = DESCALE(..., shift).</summary>
    private static void Idct1D(ReadOnlySpan<long> x, Span<long> o, int shift, int unused)
    {
        long z2 = x[2], z3 = x[6];
        long z1 = (z2 + z3) * F0541;
        long tmp2 = z1 + z3 * -F1847;
        long tmp3 = z1 + z2 * F0765;
        z2 = x[0]; z3 = x[4];
        long tmp0 = (z2 + z3) << ConstBits;
        long tmp1 = (z2 - z3) << ConstBits;
        long tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

        tmp0 = x[7]; tmp1 = x[5]; tmp2 = x[3]; tmp3 = x[1];
        z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2;
        long z4 = tmp1 + tmp3;
        long z5 = (z3 + z4) * F1175;
        tmp0 *= F0298; tmp1 *= F2053; tmp2 *= F3072; tmp3 *= F1501;
        z1 *= -F0899; z2 *= -F2562; z3 *= -F1961; z4 *= -F0390;
        z3 += z5; z4 += z5;
        tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;

        long round = 1L << (shift - 1);
        o[0] = (tmp10 + tmp3 + round) >> shift;
        o[7] = (tmp10 - tmp3 + round) >> shift;
        o[1] = (tmp11 + tmp2 + round) >> shift;
        o[6] = (tmp11 - tmp2 + round) >> shift;
        o[2] = (tmp12 + tmp1 + round) >> shift;
        o[5] = (tmp12 - tmp1 + round) >> shift;
        o[3] = (tmp13 + tmp0 + round) >> shift;
        o[4] = (tmp13 - tmp0 + round) >> shift;
        _ = unused;
    }

    /// <summary>
    /// Brings a component plane (stride sw, real size dw x dh) to full size: libjpeg's fancy triangle filters
    /// for 2x horizontal and/or vertical, replication otherwise. Edges replicate the last real row/column.
    /// </summary>
    private static byte[] Upsample(byte[] p, int sw, int dw, int dh, int fx, int fy, int width, int height, bool integral)
    {
        var o = new byte[width * height];
        if (fx == 1 && fy == 1)
        {
            for (int y = 0; y < height; y++) Array.Copy(p, y * sw, o, y * width, width);
            return o;
        }
        int ow = dw * fx, oh = dh * fy;
        var t = new byte[ow * oh];
        if (integral && fx == 2 && fy == 2 && dw > 2)
        {
            for (int r = 0; r < dh; r++)
                for (int v = 0; v < 2; v++)
                {
                    int r1 = v == 0 ? Math.Max(r - 1, 0) : Math.Min(r + 1, dh - 1);
                    int i0 = r * sw, i1 = r1 * sw, orow = (2 * r + v) * ow;
                    int last = p[i0] * 3 + p[i1], cur = last, next;
                    for (int x = 0; x < dw; x++)
                    {
                        next = x + 1 < dw ? p[i0 + x + 1] * 3 + p[i1 + x + 1] : cur;
                        t[orow + 2 * x] = (byte)(x == 0 ? (cur * 4 + 8) >> 4 : (cur * 3 + last + 8) >> 4);
                        t[orow + 2 * x + 1] = (byte)(x == dw - 1 ? (cur * 4 + 7) >> 4 : (cur * 3 + next + 7) >> 4);
                        last = cur;
                        cur = next;
                    }
                }
        }
        else if (integral && fx == 2 && fy == 1 && dw > 2)
        {
            for (int r = 0; r < dh; r++)
            {
                int i = r * sw, orow = r * ow;
                for (int x = 0; x < dw; x++)
                {
                    int v = p[i + x];
                    t[orow + 2 * x] = (byte)(x == 0 ? v : (v * 3 + p[i + x - 1] + 1) >> 2);
                    t[orow + 2 * x + 1] = (byte)(x == dw - 1 ? v : (v * 3 + p[i + x + 1] + 2) >> 2);
                }
            }
        }
        else if (integral && fx == 1 && fy == 2 && dw > 2)
        {
            for (int r = 0; r < dh; r++)
                for (int v = 0; v < 2; v++)
                {
                    int r1 = v == 0 ? Math.Max(r - 1, 0) : Math.Min(r + 1, dh - 1);
                    int bias = v == 0 ? 1 : 2;
                    for (int x = 0; x < dw; x++)
                        t[(2 * r + v) * ow + x] = (byte)((p[r * sw + x] * 3 + p[r1 * sw + x] + bias) >> 2);
                }
        }
        else
        {
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++)
                    t[y * ow + x] = p[Math.Min(y / fy, dh - 1) * sw + Math.Min(x / fx, dw - 1)];
        }
        for (int y = 0; y < height; y++) Array.Copy(t, Math.Min(y, oh - 1) * ow, o, y * width, Math.Min(width, ow));
        return o;
    }

    // jdcolor.c fixed-point YCbCr -> RGB (SCALEBITS = 16).
    private static void YccToRgb(int y, int cb, int cr, out byte r, out byte g, out byte b)
    {
        const int Scale = 16;
        const long Half = 1L << (Scale - 1);
        const long FixR = 91881, FixB = 116130, FixGr = 46802, FixGb = 22554; // FIX(1.402), FIX(1.772), FIX(0.71414), FIX(0.34414)
        int x = cr - 128, z = cb - 128;
        int rr = (int)((FixR * x + Half) >> Scale);
        int bb = (int)((FixB * z + Half) >> Scale);
        int gg = (int)((-FixGb * z + Half + -FixGr * x) >> Scale);
        r = (byte)Math.Clamp(y + rr, 0, 255);
        g = (byte)Math.Clamp(y + gg, 0, 255);
        b = (byte)Math.Clamp(y + bb, 0, 255);
    }
}
