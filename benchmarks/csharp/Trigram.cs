// The baseline a game developer would write: a character trigram Markov chain, trained from the
// list of names at start-up. Interpolated Witten-Bell smoothing (trigram -> bigram -> unigram ->
// uniform over the alphabet and the end token), the same model as benchmarks/lang_trigram.py, so
// that held-out names it never saw still get a probability; it samples from the same smoothed
// distribution it is scored with.
using System;
using System.Collections.Generic;

public sealed class Trigram
{
    const char Start = '\u0002', End = '\u0003';
    readonly string outcomes;  // the alphabet, then End
    readonly Dictionary<string, Dictionary<char, int>> followers = new Dictionary<string, Dictionary<char, int>>();
    readonly Dictionary<string, int[]> totals = new Dictionary<string, int[]>();  // context -> (count, types)
    readonly Dictionary<string, double[]> cdfs = new Dictionary<string, double[]>();  // sampling cache

    public Trigram(IEnumerable<string> names, string alphabet)
    {
        outcomes = alphabet + End;
        foreach (string name in names)
        {
            string p = "" + Start + Start + name + End;
            for (int i = 2; i < p.Length; i++)
            {
                Count("", p[i]);
                Count(p.Substring(i - 1, 1), p[i]);
                Count(p.Substring(i - 2, 2), p[i]);
            }
        }
        foreach (KeyValuePair<string, Dictionary<char, int>> kv in followers)
        {
            int n = 0;
            foreach (int c in kv.Value.Values) n += c;
            totals[kv.Key] = new int[] { n, kv.Value.Count };
        }
    }

    void Count(string h, char w)
    {
        Dictionary<char, int> f;
        if (!followers.TryGetValue(h, out f)) followers[h] = f = new Dictionary<char, int>();
        int c;
        f.TryGetValue(w, out c);
        f[w] = c + 1;
    }

    /// <summary>P(w | u v), interpolated down to the uniform floor.</summary>
    public double Prob(char w, char u, char v)
    {
        double p = 1.0 / outcomes.Length;
        string[] hs = { "", "" + v, "" + u + v };
        foreach (string h in hs)
        {
            int[] t;
            if (!totals.TryGetValue(h, out t)) break;
            int c;
            followers[h].TryGetValue(w, out c);
            p = (c + t[1] * p) / (t[0] + t[1]);
        }
        return p;
    }

    /// <summary>Natural log-probability of name and its end token.</summary>
    public double LogProb(string name)
    {
        string p = "" + Start + Start + name + End;
        double lp = 0.0;
        for (int i = 2; i < p.Length; i++) lp += Math.Log(Prob(p[i], p[i - 2], p[i - 1]));
        return lp;
    }

    /// <summary>A name of at most maxLen characters (longer draws are started again).</summary>
    public string Sample(Random rng, int maxLen = 50)
    {
        var sb = new System.Text.StringBuilder();
        while (true)
        {
            sb.Length = 0;
            char u = Start, v = Start;
            while (true)
            {
                char w = Next(u, v, rng.NextDouble());
                if (w == End) return sb.ToString();
                if (sb.Length == maxLen) break;
                sb.Append(w);
                u = v;
                v = w;
            }
        }
    }

    char Next(char u, char v, double r)
    {
        string key = "" + u + v;
        double[] cdf;
        if (!cdfs.TryGetValue(key, out cdf))
        {
            cdf = new double[outcomes.Length];
            double run = 0.0;
            for (int i = 0; i < outcomes.Length; i++) cdf[i] = run += Prob(outcomes[i], u, v);
            cdfs[key] = cdf;
        }
        double target = r * cdf[cdf.Length - 1];
        for (int i = 0; i < cdf.Length; i++) if (cdf[i] > target) return outcomes[i];
        return outcomes[outcomes.Length - 1];
    }
}
