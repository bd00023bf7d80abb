// Drives an exported C# generator (class Charsmith.Generator) for the tests: reads commands, one
// per line, tab-separated, from the file given first, and writes each command's results to its own
// file. A second argument: the weights file to load (else the weights embedded in the class).
//   score    <category or empty>  <items file>  <out file>          -> one log-probability per line ("R")
//   sample   <n> <temperature> <topK> <topP> <prefix> <minLen> <maxLen> <category> <seed> <skipKnown 0|1> [<unique 0|1>] <out file>
//   complete <prompt> <length> <temperature> <topK> <topP> <seed> <out file>
//   hash     <items file> <out file>                                  -> one FNV-1a hash per line
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

static class Harness
{
    static void Main(string[] args)
    {
        CultureInfo inv = CultureInfo.InvariantCulture;
        Charsmith.Generator g = args.Length > 1 ? new Charsmith.Generator(File.ReadAllBytes(args[1])) : new Charsmith.Generator();
        foreach (string line in File.ReadAllLines(args[0], Encoding.UTF8))
        {
            if (line.Length == 0) continue;
            string[] a = line.Split('\t');
            List<string> lines = new List<string>();
            string outFile = a[a.Length - 1];
            if (a[0] == "score")
            {
                string cat = a[1].Length == 0 ? null : a[1];
                foreach (string item in File.ReadAllLines(a[2], Encoding.UTF8))
                    lines.Add(g.Score(item, cat).LogProb.ToString("R", inv));
            }
            else if (a[0] == "sample")
            {
                lines = g.Sample(int.Parse(a[1]), double.Parse(a[2], inv), int.Parse(a[3]), double.Parse(a[4], inv), a[5],
                                 int.Parse(a[6]), int.Parse(a[7]), a[8].Length == 0 ? null : a[8], long.Parse(a[9]),
                                 a[10] == "1", a.Length > 12 && a[11] == "1");
            }
            else if (a[0] == "complete")
            {
                lines.Add(g.Complete(a[1], int.Parse(a[2]), double.Parse(a[3], inv), int.Parse(a[4]), double.Parse(a[5], inv),
                                     long.Parse(a[6])).Replace("\n", "\\n"));
            }
            else if (a[0] == "hash")
            {
                foreach (string item in File.ReadAllLines(a[1], Encoding.UTF8))
                    lines.Add(Charsmith.Generator.Fnv1a(item).ToString(inv));
            }
            else
            {
                throw new ArgumentException("unknown command " + a[0]);
            }
            File.WriteAllLines(outFile, lines.ToArray(), new UTF8Encoding(false));
        }
    }
}
