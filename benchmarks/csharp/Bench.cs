// The C# export's benchmark (driven by benchmarks/bench_csharp.py): an exported generator (class
// Charsmith.Generator) against the trigram baseline (Trigram.cs), in one process.
//   mono bench.exe first    <category>                       the first name, then exit (process start-up timed outside)
//   mono bench.exe run      <category> <train> <val> <alphabet> <seconds>
// Times are wall clock and CPU time of this process (the machine may be busy: CPU time is the steadier).
// train and val: "category<TAB>name" lines (category empty for a model without categories); the
// alphabet file holds the model's characters. Prints "key value" lines.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;

static class Bench
{
    static void Main(string[] args)
    {
        CultureInfo inv = CultureInfo.InvariantCulture;
        string category = args[1].Length == 0 ? null : args[1];
        double cpu0 = Cpu();
        Stopwatch sw = Stopwatch.StartNew();
        Charsmith.Generator g = new Charsmith.Generator();
        double loaded = sw.Elapsed.TotalMilliseconds, loadedCpu = 1000 * (Cpu() - cpu0);
        string first = g.Sample(1, category: category, seed: 1, skipKnown: false)[0];
        double firstMs = sw.Elapsed.TotalMilliseconds, firstCpu = 1000 * (Cpu() - cpu0);
        if (args[0] == "first")
        {
            Console.WriteLine(first);
            return;
        }
        Emit("model_load_ms", loaded);
        Emit("model_load_cpu_ms", loadedCpu);
        Emit("model_first_name_ms", firstMs);
        Emit("model_first_name_cpu_ms", firstCpu);

        string[][] train = Read(args[2]), val = Read(args[3]);
        string alphabet = File.ReadAllText(args[4], Encoding.UTF8);
        double seconds = double.Parse(args[5], inv);

        // held-out loss, each name under its own category (end token included)
        double lp = 0.0, tri = 0.0;
        long chars = 0;
        var trigrams = new Dictionary<string, Trigram>();
        sw.Restart();
        foreach (string[] pair in train)
            if (!trigrams.ContainsKey(pair[0])) trigrams[pair[0]] = Fit(train, pair[0], alphabet);
        Emit("trigram_fit_ms", sw.Elapsed.TotalMilliseconds);
        foreach (string[] pair in val)
        {
            lp += g.Score(pair[1], pair[0].Length == 0 ? null : pair[0]).LogProb;
            tri += trigrams[pair[0]].LogProb(pair[1]);
            chars += pair[1].Length + 1;
        }
        Emit("heldout_items", val.Length);
        Emit("model_heldout_nats", -lp / chars);
        Emit("trigram_heldout_nats", -tri / chars);

        // names per second: batches of 100 for the given time (after a warm-up batch)
        g.Sample(100, category: category, seed: 2, skipKnown: false);
        long n = 0;
        sw.Restart();
        cpu0 = Cpu();
        for (uint seed = 3; sw.Elapsed.TotalSeconds < seconds; seed++) n += g.Sample(100, category: category, seed: seed, skipKnown: false).Count;
        Emit("model_names_per_s", n / sw.Elapsed.TotalSeconds);
        Emit("model_names_per_cpu_s", n / (Cpu() - cpu0));

        Trigram t = trigrams[category ?? ""];
        Random rng = new Random(1);
        for (int i = 0; i < 100; i++) t.Sample(rng);
        n = 0;
        sw.Restart();
        cpu0 = Cpu();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < 100; i++) t.Sample(rng);
            n += 100;
        }
        Emit("trigram_names_per_s", n / sw.Elapsed.TotalSeconds);
        Emit("trigram_names_per_cpu_s", n / (Cpu() - cpu0));
    }

    /// <summary>CPU seconds this process has used (every thread, the runtime's too).</summary>
    static double Cpu() { return Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds; }

    static Trigram Fit(string[][] train, string category, string alphabet)
    {
        var names = new List<string>();
        foreach (string[] pair in train) if (pair[0] == category) names.Add(pair[1]);
        return new Trigram(names, alphabet);
    }

    static string[][] Read(string path)
    {
        var rows = new List<string[]>();
        foreach (string line in File.ReadAllLines(path, Encoding.UTF8)) if (line.Length > 0) rows.Add(line.Split('\t'));
        return rows.ToArray();
    }

    static void Emit(string key, double value)
    {
        Console.WriteLine(key + " " + value.ToString("R", CultureInfo.InvariantCulture));
    }
}
