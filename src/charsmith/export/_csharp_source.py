"""The C# source the ``csharp`` export writes: a ``string.Template`` (``$name`` fields are
filled in by :mod:`charsmith.export.csharp`). The code is C# 4 with the .NET Framework 4 base
library only (System, System.Collections.Generic, System.Globalization, System.Text), so that
Unity (C# 9, .NET Standard 2.1 or .NET Framework 4.x), Godot .NET, MonoGame and Mono's ``mcs
-langversion:4`` all compile it; the tests compile it with the last.
"""

SOURCE = r"""// $Class.cs: a character-level generator written by charsmith $version's csharp export.
// Self-contained: C# 4 and the .NET base library only; no network, no other file$beside_note.
//
// Model: $describe.
// Weights: $dtype, $weights_where.
// Known items: $known_note.
//
// Usage (Unity: put this file in Assets/; Godot .NET and MonoGame: add it to the project):
//
//     using UnityEngine;
//     using Charsmith;
//
//     public class NameSpawner : MonoBehaviour
//     {
//         $Class generator;
//
//         void Awake() { generator = new $Class(); }$beside_snippet
//
//         void Start()
//         {
$usage_lines
//         }
//     }
//
// API (one instance per thread; an instance is not thread-safe):
//   List<string> Sample(int n = 10, double temperature = 1.0, int topK = 0, double topP = 1.0,
//                       string prefix = "", int minLen = 1, int maxLen = 50, string category = null,
//                       long seed = -1, bool skipKnown = true, bool unique = false)
//       n new items (list models). seed in [0, 2^32) reproduces the same items as charsmith's
//       other exports and its reference of the sampling specification; -1 seeds from the clock.
//       category: a name, or a blend "A=0.7,B=0.3" (null: each item's category is drawn from
//       the training counts). unique: no item twice. Fewer than n come back only if
//       256 n + 20000 tries do not find them.
//   ItemScore Score(string item, string category = null)
//       log-probability of item and its end token (natural log), as `charsmith score` gives it;
//       .NatsPerChar, .BitsPerChar. Without a category: under the mixture of all categories.
//   string Complete(string prompt, int length = 200, double temperature = 1.0, int topK = 0,
//                   double topP = 1.0, long seed = -1)
//       text models: prompt followed by length new characters.
//   bool IsKnown(string item); string[] Categories; bool IsTextModel
//
// Sampling specification (shared by every charsmith export): PRNG xoshiro128** seeded through
// the murmur3 finaliser; one uniform double u = ((a >> 5) * 2^26 + (b >> 6)) / 2^53 per
// character; float64 arithmetic, sums in ascending index order from the bias; logits divided by
// the temperature, the maximum subtracted, w = exp(.); top-k, then top-p (ties: lower id first);
// the first id whose running sum of w (ascending ids) exceeds u * total.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Charsmith
{
    public sealed class $Class
    {
        /// <summary>An item's log-probability (natural log, end token included) over Chars predictions.</summary>
        public sealed class ItemScore
        {
            public readonly string Item;
            public readonly double LogProb;
            public readonly int Chars;

            internal ItemScore(string item, double logProb, int chars)
            {
                Item = item;
                LogProb = logProb;
                Chars = chars;
            }

            public double NatsPerChar { get { return -LogProb / Chars; } }
            public double BitsPerChar { get { return NatsPerChar / Math.Log(2.0); } }
        }

        // ----- the model, as exported ----------------------------------------------------------
        // (static readonly rather than const: C# compilers warn of the branches a constant rules out)
        static readonly int Cell = $cell;  // 0 rnn, 1 lstm (gates i f g o), 2 gru (gates r z n): PyTorch's order
        static readonly int V = $V, H = $H, Layers = $L, Embed = $E, K = $K, CatEmbed = $C;
        static readonly int G = $gates * H;  // gate rows of every layer
        static readonly bool Text = $text, Lower = $lower, Half = $half;
        static readonly int WeightBytes = $nbytes;
        const int End = 0;  // the end token's id (the newline)
        static readonly int[] VocabCodePoints = { $vocab };
        static readonly string[] CategoryNames = { $cat_names };
        static readonly double[] CategoryCounts = { $cat_counts };
        static readonly string KnownBase64 = "$known";
        static readonly string[] WeightsBase64 = {
$weights
        };

        // ----- weights, widened to double: matrices (in, out) row-major ------------------------
        readonly double[] table0;  // (V, G): layer 0's input row of each id, b + x_v @ W_ih
        readonly double[] cat, wCat;  // (K, C), (C, G)
        readonly double[][] wIh, wHh, b, bHn;  // per layer: (H, G) [layers > 0], (H, G), (G), (H) gru
        readonly double[] wOut, bOut;  // (H, V), (V)
        readonly Dictionary<int, int> index = new Dictionary<int, int>();
        readonly uint[] known;
        readonly string[] categoryNames;

        // scratch buffers of one step
        readonly double[] xp = new double[G], gh = new double[G], logits = new double[V];
        readonly double[] w = new double[V];
        readonly int[] order = new int[V];

        /// <summary>The model with the weights embedded in this file.</summary>
        public $Class() : this(EmbeddedWeights()) { }

        /// <summary>The model with its weights given as bytes (little-endian, as written beside this file).</summary>
        public $Class(byte[] weights)
        {
            if (weights == null || weights.Length != WeightBytes)
                throw new ArgumentException("the weights must be the " + WeightBytes + " bytes charsmith wrote for $Class, got "
                                            + (weights == null ? "null" : weights.Length + " bytes"));
            int pos = 0;
            double[] wte = Embed > 0 ? Take(weights, ref pos, V * Embed) : null;
            if (K > 0)
            {
                cat = Take(weights, ref pos, K * CatEmbed);
                wCat = Take(weights, ref pos, CatEmbed * G);
            }
            wIh = new double[Layers][];
            wHh = new double[Layers][];
            b = new double[Layers][];
            bHn = new double[Layers][];
            for (int l = 0; l < Layers; l++)
            {
                int inputs = l > 0 ? H : (Embed > 0 ? Embed : V);
                wIh[l] = Take(weights, ref pos, inputs * G);
                wHh[l] = Take(weights, ref pos, H * G);
                b[l] = Take(weights, ref pos, G);
                if (Cell == 2) bHn[l] = Take(weights, ref pos, H);
            }
            wOut = Take(weights, ref pos, H * V);
            bOut = Take(weights, ref pos, V);

            table0 = new double[V * G];
            for (int v = 0; v < V; v++)
            {
                int row = v * G;
                Array.Copy(b[0], 0, table0, row, G);
                if (Embed > 0)
                {
                    for (int e = 0; e < Embed; e++)
                    {
                        double x = wte[v * Embed + e];
                        int off = e * G;
                        for (int g = 0; g < G; g++) table0[row + g] += x * wIh[0][off + g];
                    }
                }
                else
                {
                    for (int g = 0; g < G; g++) table0[row + g] += wIh[0][row + g];
                }
            }
            wIh[0] = null;  // layer 0 reads table0
            for (int i = 0; i < VocabCodePoints.Length; i++) index[VocabCodePoints[i]] = i;
            byte[] kb = Convert.FromBase64String(KnownBase64);
            known = new uint[kb.Length / 4];
            for (int i = 0; i < known.Length; i++)
                known[i] = (uint)(kb[4 * i] | kb[4 * i + 1] << 8 | kb[4 * i + 2] << 16 | kb[4 * i + 3] << 24);
            categoryNames = (string[])CategoryNames.Clone();
        }

        public string[] Categories { get { return (string[])categoryNames.Clone(); } }
        public bool IsTextModel { get { return Text; } }

        static byte[] EmbeddedWeights()
        {
            if (WeightsBase64.Length == 0)
                throw new InvalidOperationException("$Class's weights are in the file $beside_name beside it: "
                                                    + "new $Class(System.IO.File.ReadAllBytes(path)), or in Unity "
                                                    + "new $Class(textAsset.bytes)");
            byte[] all = new byte[WeightBytes];
            int pos = 0;
            foreach (string chunk in WeightsBase64)
            {
                byte[] part = Convert.FromBase64String(chunk);
                Array.Copy(part, 0, all, pos, part.Length);
                pos += part.Length;
            }
            return all;
        }

        static double[] Take(byte[] data, ref int pos, int count)
        {
            double[] a = new double[count];
            for (int i = 0; i < count; i++)
            {
                if (Half)
                {
                    a[i] = HalfToDouble((ushort)(data[pos] | data[pos + 1] << 8));
                    pos += 2;
                }
                else
                {
                    int bits = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 | data[pos + 3] << 24;
                    a[i] = BitConverter.ToSingle(BitConverter.GetBytes(bits), 0);
                    pos += 4;
                }
            }
            return a;
        }

        static double HalfToDouble(ushort h)
        {
            int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
            double v;
            if (exp == 31) v = mant == 0 ? double.PositiveInfinity : double.NaN;
            else if (exp == 0) v = mant * 5.9604644775390625e-08;  // 2^-24
            else v = (1024 + mant) * Pow2(exp - 25);
            return sign == 1 ? -v : v;
        }

        static double Pow2(int e)
        {
            double v = 1.0;
            for (; e > 0; e--) v *= 2.0;
            for (; e < 0; e++) v *= 0.5;
            return v;
        }

        // ----- one step of the network ----------------------------------------------------------
        sealed class State
        {
            public readonly double[][] Hs, Cs;  // per layer: h (H), and c (H) for an lstm

            public State(bool cell)
            {
                Hs = new double[Layers][];
                Cs = cell ? new double[Layers][] : null;
                for (int l = 0; l < Layers; l++)
                {
                    Hs[l] = new double[H];
                    if (cell) Cs[l] = new double[H];
                }
            }

            public State Copy()
            {
                State s = new State(Cs != null);
                for (int l = 0; l < Layers; l++)
                {
                    Array.Copy(Hs[l], s.Hs[l], H);
                    if (Cs != null) Array.Copy(Cs[l], s.Cs[l], H);
                }
                return s;
            }
        }

        static double Sigmoid(double x) { return 1.0 / (1.0 + Math.Exp(-x)); }

        /// <summary>Feeds id to the state (updated in place) and leaves the next character's logits in logits.
        /// catRow (G) is the category's share of layer 0's input, or null.</summary>
        void Step(int id, double[] catRow, State s)
        {
            for (int l = 0; l < Layers; l++)
            {
                double[] h = s.Hs[l];
                if (l == 0)
                {
                    Array.Copy(table0, id * G, xp, 0, G);
                    if (catRow != null) for (int g = 0; g < G; g++) xp[g] += catRow[g];
                }
                else
                {
                    MatVec(b[l], s.Hs[l - 1], wIh[l], H, G, xp);
                }
                MatVec(null, h, wHh[l], H, G, gh);
                if (Cell == 0)
                {
                    for (int j = 0; j < H; j++) h[j] = Math.Tanh(xp[j] + gh[j]);
                }
                else if (Cell == 1)
                {
                    double[] c = s.Cs[l];
                    for (int j = 0; j < H; j++)
                    {
                        double i = Sigmoid(xp[j] + gh[j]);
                        double f = Sigmoid(xp[H + j] + gh[H + j]);
                        double gg = Math.Tanh(xp[2 * H + j] + gh[2 * H + j]);
                        double o = Sigmoid(xp[3 * H + j] + gh[3 * H + j]);
                        c[j] = f * c[j] + i * gg;
                        h[j] = o * Math.Tanh(c[j]);
                    }
                }
                else
                {
                    double[] bn = bHn[l];
                    for (int j = 0; j < H; j++)
                    {
                        double r = Sigmoid(xp[j] + gh[j]);
                        double z = Sigmoid(xp[H + j] + gh[H + j]);
                        double n = Math.Tanh(xp[2 * H + j] + r * (gh[2 * H + j] + bn[j]));
                        h[j] = n + z * (h[j] - n);
                    }
                }
            }
            MatVec(bOut, s.Hs[Layers - 1], wOut, H, V, logits);
        }

        /// <summary>y = bias + x @ W for W (n, m) row-major: each y[k] summed in ascending input order.</summary>
        static void MatVec(double[] bias, double[] x, double[] W, int n, int m, double[] y)
        {
            if (bias != null) Array.Copy(bias, y, m); else Array.Clear(y, 0, m);
            int m4 = m & ~3;
            for (int i = 0; i < n; i++)
            {
                double xi = x[i];
                int off = i * m, k = 0;
                for (; k < m4; k += 4, off += 4)  // unrolled: about 1.3x faster on Mono
                {
                    y[k] += xi * W[off];
                    y[k + 1] += xi * W[off + 1];
                    y[k + 2] += xi * W[off + 2];
                    y[k + 3] += xi * W[off + 3];
                }
                for (; k < m; k++, off++) y[k] += xi * W[off];
            }
        }

        /// <summary>The category weights (K) as layer 0's extra input row (G): (w @ cat) @ W_cat.</summary>
        double[] CategoryRow(double[] weights)
        {
            if (weights == null) return null;
            double[] e = new double[CatEmbed];
            for (int k = 0; k < K; k++)
                for (int c = 0; c < CatEmbed; c++) e[c] += weights[k] * cat[k * CatEmbed + c];
            double[] row = new double[G];
            MatVec(null, e, wCat, CatEmbed, G, row);
            return row;
        }

        // ----- categories ------------------------------------------------------------------------
        /// <summary>A name or a blend "A=0.7,B=0.3" as weights (K): divided by the largest, then by the sum.</summary>
        double[] CategoryWeights(string category)
        {
            if (category == null) return null;
            if (K == 0) throw new ArgumentException("this model has no categories; pass category: null");
            double[] weights = new double[K];
            bool[] seen = new bool[K];
            foreach (string part in category.Split(','))
            {
                string[] kv = part.Split('=');
                string name = kv[0].Trim();
                int k = Array.IndexOf(CategoryNames, name);
                if (k < 0 || kv.Length > 2)
                    throw new ArgumentException("unknown category '" + name + "'; this model knows: "
                                                + string.Join(", ", CategoryNames));
                if (seen[k]) throw new ArgumentException("category '" + name + "' is given twice");
                seen[k] = true;
                double value = 1.0;
                if (kv.Length == 2 && !double.TryParse(kv[1].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value))
                    throw new ArgumentException("the weight of category '" + name + "' is not a number");
                if (!(value >= 0) || double.IsInfinity(value))
                    throw new ArgumentException("category weights must be finite and >= 0");
                weights[k] = value;
            }
            return Normalise(weights);
        }

        static double[] Normalise(double[] weights)
        {
            double max = 0.0;
            foreach (double x in weights) max = Math.Max(max, x);
            if (!(max > 0)) throw new ArgumentException("give at least one positive category weight");
            double sum = 0.0;
            for (int k = 0; k < weights.Length; k++) { weights[k] /= max; sum += weights[k]; }
            for (int k = 0; k < weights.Length; k++) weights[k] /= sum;
            return weights;
        }

        // ----- text <-> ids ------------------------------------------------------------------------
        List<int> Encode(string text)
        {
            if (Lower) text = text.ToLowerInvariant();
            List<int> ids = new List<int>(text.Length);
            for (int i = 0; i < text.Length; i++)
            {
                int cp = char.ConvertToUtf32(text, i);
                if (char.IsHighSurrogate(text[i])) i++;
                int id;
                if (!index.TryGetValue(cp, out id) || (!Text && id == End))
                    throw new ArgumentException("'" + char.ConvertFromUtf32(cp) + "' is not a character this model knows");
                ids.Add(id);
            }
            return ids;
        }

        static string Decode(List<int> ids)
        {
            StringBuilder sb = new StringBuilder(ids.Count);
            foreach (int id in ids) sb.Append(char.ConvertFromUtf32(VocabCodePoints[id]));
            return sb.ToString();
        }

        // ----- the next-character draw ----------------------------------------------------------
        /// <summary>One id from the logits per the specification: temperature, top-k, top-p, inverse CDF with u.</summary>
        int Draw(double temperature, int topK, double topP, double u)
        {
            double max = double.NegativeInfinity;
            for (int v = 0; v < V; v++) { w[v] = logits[v] / temperature; max = Math.Max(max, w[v]); }
            for (int v = 0; v < V; v++) w[v] = Math.Exp(w[v] - max);
            if ((topK > 0 && topK < V) || topP < 1.0)
            {
                for (int v = 0; v < V; v++) order[v] = v;
                Array.Sort(order, delegate(int x, int y) { int c = w[y].CompareTo(w[x]); return c != 0 ? c : x.CompareTo(y); });
                if (topK > 0 && topK < V) for (int r = topK; r < V; r++) w[order[r]] = 0.0;
                if (topP < 1.0)
                {
                    double all = 0.0;
                    for (int v = 0; v < V; v++) all += w[v];
                    double run = 0.0;
                    int keep = V;
                    for (int r = 0; r < V; r++)
                    {
                        run += w[order[r]];
                        if (run >= topP * all) { keep = r + 1; break; }
                    }
                    for (int r = keep; r < V; r++) w[order[r]] = 0.0;
                }
            }
            return InverseCdf(w, u);
        }

        /// <summary>The first index whose running sum of w (ascending) exceeds u * the total of w;
        /// if rounding leaves none, the last index with w > 0.</summary>
        static int InverseCdf(double[] w, double u)
        {
            double total = 0.0;
            for (int i = 0; i < w.Length; i++) total += w[i];
            double target = u * total, sum = 0.0;
            int last = 0;
            for (int i = 0; i < w.Length; i++)
            {
                if (w[i] <= 0.0) continue;
                sum += w[i];
                last = i;
                if (sum > target) return i;
            }
            return last;
        }

        static void CheckControls(double temperature, int topK, double topP)
        {
            if (!(temperature > 0) || double.IsInfinity(temperature))
                throw new ArgumentException("temperature must be a finite number > 0, got " + temperature);
            if (topK < 0) throw new ArgumentException("topK must be >= 1 (or 0 for no limit), got " + topK);
            if (!(topP > 0 && topP <= 1)) throw new ArgumentException("topP must be in (0, 1], got " + topP);
        }

        static Xoshiro128 Rng(long seed)
        {
            if (seed < -1 || seed > uint.MaxValue) throw new ArgumentException("seed must be in [0, 2^32) (or -1: from the clock), got " + seed);
            return new Xoshiro128(seed == -1 ? unchecked((uint)DateTime.UtcNow.Ticks ^ (uint)Environment.TickCount) : (uint)seed);
        }

        // ----- public API ------------------------------------------------------------------------
        public List<string> Sample(int n = 10, double temperature = 1.0, int topK = 0, double topP = 1.0,
                                   string prefix = "", int minLen = 1, int maxLen = 50, string category = null,
                                   long seed = -1, bool skipKnown = true, bool unique = false)
        {
            if (Text) throw new InvalidOperationException("this model learned running text; use Complete()");
            if (n < 1) throw new ArgumentException("n must be >= 1, got " + n);
            CheckControls(temperature, topK, topP);
            List<int> pre = Encode(prefix ?? "");
            if (maxLen < Math.Max(pre.Count, 1) || minLen > maxLen)
                throw new ArgumentException("need 1 <= minLen <= maxLen and the prefix within maxLen; got minLen " + minLen
                                            + ", maxLen " + maxLen + ", a prefix of " + pre.Count);
            double[] fixedWeights = CategoryWeights(category);
            Xoshiro128 rng = Rng(seed);

            // the primed state and first logits, per category (a fixed one, or each drawn one)
            int slots = fixedWeights != null || K == 0 ? 1 : K;
            State[] primed = new State[slots];
            double[][] primedLogits = new double[slots][];
            double[][] rows = new double[slots][];

            List<string> items = new List<string>(n);
            HashSet<string> seen = new HashSet<string>();
            List<int> ids = new List<int>(maxLen);
            long tries = 256L * n + 20000;
            while (items.Count < n && tries-- > 0)
            {
                int slot = slots == 1 ? 0 : InverseCdf(CategoryCounts, rng.NextDouble());  // a category from the training counts
                if (primed[slot] == null)
                {
                    double[] cw = fixedWeights;
                    if (cw == null && K > 0) { cw = new double[K]; cw[slot] = 1.0; }
                    rows[slot] = CategoryRow(cw);
                    State p = new State(Cell == 1);
                    Step(End, rows[slot], p);
                    foreach (int id in pre) Step(id, rows[slot], p);
                    primed[slot] = p;
                    primedLogits[slot] = (double[])logits.Clone();
                }
                State s = primed[slot].Copy();
                Array.Copy(primedLogits[slot], logits, V);
                ids.Clear();
                ids.AddRange(pre);
                bool ended = false;
                while (true)
                {
                    int id = Draw(temperature, topK, topP, rng.NextDouble());
                    if (id == End) { ended = true; break; }
                    if (ids.Count == maxLen) break;  // too long: abandoned
                    ids.Add(id);
                    Step(id, rows[slot], s);
                }
                if (!ended || ids.Count < minLen) continue;
                string item = Decode(ids);
                if (skipKnown && IsKnown(item)) continue;
                if (unique && !seen.Add(item)) continue;
                items.Add(item);
            }
            return items;
        }

        public ItemScore Score(string item, string category = null)
        {
            if (item == null) throw new ArgumentNullException("item");
            List<int> ids = Encode(item);
            if (Lower) item = item.ToLowerInvariant();
            double[] weights = CategoryWeights(category);
            if (weights != null || K == 0) return new ItemScore(item, LogProb(ids, CategoryRow(weights)), ids.Count + 1);
            // no category: the mixture of all, weighted by the training counts
            double total = 0.0, max = double.NegativeInfinity;
            foreach (double c in CategoryCounts) total += c;
            double[] joint = new double[K];
            for (int k = 0; k < K; k++)
            {
                double[] one = new double[K];
                one[k] = 1.0;
                joint[k] = Math.Log(CategoryCounts[k] / total) + LogProb(ids, CategoryRow(one));
                max = Math.Max(max, joint[k]);
            }
            double sum = 0.0;
            for (int k = 0; k < K; k++) sum += Math.Exp(joint[k] - max);
            return new ItemScore(item, Math.Log(sum) + max, ids.Count + 1);
        }

        double LogProb(List<int> ids, double[] row)
        {
            State s = new State(Cell == 1);
            double total = 0.0;
            int prev = End;
            for (int t = 0; t <= ids.Count; t++)
            {
                Step(prev, row, s);
                int target = t < ids.Count ? ids[t] : End;
                double max = double.NegativeInfinity, sum = 0.0;
                for (int v = 0; v < V; v++) max = Math.Max(max, logits[v]);
                for (int v = 0; v < V; v++) sum += Math.Exp(logits[v] - max);
                total += logits[target] - (Math.Log(sum) + max);
                prev = target;
            }
            return total;
        }

        public string Complete(string prompt, int length = 200, double temperature = 1.0, int topK = 0,
                               double topP = 1.0, long seed = -1)
        {
            if (!Text) throw new InvalidOperationException("this model writes list items; use Sample()");
            if (length < 0) throw new ArgumentException("length must be >= 0, got " + length);
            CheckControls(temperature, topK, topP);
            List<int> ids = Encode(prompt ?? "");
            Xoshiro128 rng = Rng(seed);
            State s = new State(Cell == 1);
            Step(End, null, s);
            foreach (int id in ids) Step(id, null, s);
            for (int t = 0; t < length; t++)
            {
                int id = Draw(temperature, topK, topP, rng.NextDouble());
                ids.Add(id);
                if (t + 1 < length) Step(id, null, s);
            }
            return Decode(ids);
        }

        /// <summary>Whether item is one of the training items (when the export shipped their hashes).</summary>
        public bool IsKnown(string item)
        {
            if (known.Length == 0) return false;
            return Array.BinarySearch(known, Fnv1a(Lower ? item.ToLowerInvariant() : item)) >= 0;
        }

        /// <summary>FNV-1a 32-bit hash of the UTF-8 bytes of s.</summary>
        public static uint Fnv1a(string s)
        {
            uint hash = 2166136261;
            foreach (byte x in Encoding.UTF8.GetBytes(s))
                unchecked { hash = (hash ^ x) * 16777619; }
            return hash;
        }

        /// <summary>xoshiro128** (32-bit), seeded as the charsmith sampling specification says.</summary>
        sealed class Xoshiro128
        {
            uint s0, s1, s2, s3;

            public Xoshiro128(uint seed)
            {
                uint[] s = new uint[4];
                uint x = seed;
                unchecked
                {
                    for (int i = 0; i < 4; i++)
                    {
                        x += 0x9E3779B9;
                        uint z = x;
                        z = (z ^ (z >> 16)) * 0x85EBCA6B;
                        z = (z ^ (z >> 13)) * 0xC2B2AE35;
                        s[i] = z ^ (z >> 16);
                    }
                }
                s0 = s[0]; s1 = s[1]; s2 = s[2]; s3 = s[3];
            }

            public uint Next()
            {
                unchecked
                {
                    uint result = Rotl(s1 * 5, 7) * 9;
                    uint t = s1 << 9;
                    s2 ^= s0;
                    s3 ^= s1;
                    s1 ^= s2;
                    s0 ^= s3;
                    s2 ^= t;
                    s3 = Rotl(s3, 11);
                    return result;
                }
            }

            static uint Rotl(uint x, int k) { return (x << k) | (x >> (32 - k)); }

            public double NextDouble()
            {
                uint a = Next() >> 5, b = Next() >> 6;
                return (a * 67108864.0 + b) / 9007199254740992.0;
            }
        }
    }
}
"""
