using System.Globalization;
using System.Text;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>One bar of a chart: its label, its value, and the value as the page shows it.</summary>
public sealed record ChartBar(string Label, double Value, string Shown);

/// <summary>One bin of a two-sided histogram (reference against current): the bin's label and each side's share (0–1).</summary>
public sealed record HistogramBin(string Label, double Reference, double Current);

/// <summary>A point of a line chart: its x label and value (null: no data at that point, a gap).</summary>
public sealed record LinePoint(string Label, double? Value);

/// <summary>A node of a lineage graph: what it is (dataset, code, base model, prompt, deployment…), its label, and a console link when there is one.</summary>
public sealed record LineageNode(string Kind, string Label, string? Href = null);

/// <summary>
/// Charts drawn on the server as inline SVG (no script, no library): each is a <c>figure</c> whose caption names it, whose
/// SVG is an image labelled with its caption, and whose figures are repeated in a table for screen readers and for
/// anyone who wants the numbers (visually hidden: <c>.skip</c>). Every label and value goes through <see cref="Html.E"/>.
/// Sizes are in a viewBox, so a chart narrows with the page (390 px wide phones included).
/// </summary>
public static class Charts
{
    private const int Width = 640;

    /// <summary>Horizontal bars, one per row, longest first as given; values must not be negative (a negative one is drawn as 0).</summary>
    public static string Bars(string id, string caption, IReadOnlyList<ChartBar> bars, string valueHeader = "value")
    {
        if (bars.Count == 0)
        {
            return $"""<figure id="{E(id)}" class="chart"><figcaption>{E(caption)}</figcaption><p class="empty">No data.</p></figure>""";
        }
        const int row = 24, labelWidth = 200, valueWidth = 90;
        var max = Math.Max(bars.Max(b => Finite(b.Value)), 1e-12);
        var height = bars.Count * row + 4;
        var svg = new StringBuilder();
        for (var i = 0; i < bars.Count; i++)
        {
            var b = bars[i];
            var y = i * row + 2;
            var length = (Width - labelWidth - valueWidth) * Finite(b.Value) / max;
            svg.Append($"""<text x="{labelWidth - 6}" y="{y + 16}" text-anchor="end">{E(Clip(b.Label, 28))}</text>""");
            svg.Append($"""<rect class="bar" x="{labelWidth}" y="{y + 3}" width="{N(Math.Max(length, 0.5))}" height="{row - 6}"><title>{E(b.Label)}: {E(b.Shown)}</title></rect>""");
            svg.Append($"""<text x="{N(labelWidth + length + 6)}" y="{y + 16}">{E(b.Shown)}</text>""");
        }
        var rows = string.Concat(bars.Select(b => $"<tr><th scope=\"row\">{E(b.Label)}</th><td>{E(b.Shown)}</td></tr>"));
        return Figure(id, caption, Width, height, svg.ToString(), $"<tr><th scope=\"col\">{E(caption)}</th><th scope=\"col\">{E(valueHeader)}</th></tr>", rows);
    }

    /// <summary>
    /// A histogram of two distributions side by side per bin (reference and current), as shares of each side's values:
    /// drift's picture of one column.
    /// </summary>
    public static string Histogram(string id, string caption, IReadOnlyList<HistogramBin> bins, string referenceName = "reference", string currentName = "current")
    {
        if (bins.Count == 0)
        {
            return $"""<figure id="{E(id)}" class="chart"><figcaption>{E(caption)}</figcaption><p class="empty">No data.</p></figure>""";
        }
        const int plot = 150, top = 22, bottom = 40;
        var max = Math.Max(bins.Max(b => Math.Max(Finite(b.Reference), Finite(b.Current))), 1e-12);
        var step = (double)(Width - 20) / bins.Count;
        var bar = Math.Max(step / 2 - 2, 1);
        var svg = new StringBuilder();
        svg.Append($"""<rect class="ref" x="10" y="4" width="10" height="10"/><text x="24" y="13">{E(referenceName)}</text>""");
        svg.Append($"""<rect class="cur" x="130" y="4" width="10" height="10"/><text x="144" y="13">{E(currentName)}</text>""");
        for (var i = 0; i < bins.Count; i++)
        {
            var bin = bins[i];
            var x = 10 + i * step;
            var hr = plot * Finite(bin.Reference) / max;
            var hc = plot * Finite(bin.Current) / max;
            svg.Append($"""<rect class="ref" x="{N(x + 1)}" y="{N(top + plot - hr)}" width="{N(bar)}" height="{N(Math.Max(hr, 0.5))}"><title>{E(bin.Label)}: {E(referenceName)} {Percent(bin.Reference)}</title></rect>""");
            svg.Append($"""<rect class="cur" x="{N(x + 1 + bar)}" y="{N(top + plot - hc)}" width="{N(bar)}" height="{N(Math.Max(hc, 0.5))}"><title>{E(bin.Label)}: {E(currentName)} {Percent(bin.Current)}</title></rect>""");
            if (bins.Count <= 12 || i % (int)Math.Ceiling(bins.Count / 12.0) == 0)
            {
                svg.Append($"""<text x="{N(x + step / 2)}" y="{top + plot + 16}" text-anchor="middle" class="small">{E(Clip(bin.Label, 12))}</text>""");
            }
        }
        svg.Append($"""<line class="axis" x1="10" y1="{top + plot}" x2="{Width - 10}" y2="{top + plot}"/>""");
        var rows = string.Concat(bins.Select(b => $"<tr><th scope=\"row\">{E(b.Label)}</th><td>{Percent(b.Reference)}</td><td>{Percent(b.Current)}</td></tr>"));
        return Figure(id, caption, Width, top + plot + bottom, svg.ToString(),
            $"<tr><th scope=\"col\">bin</th><th scope=\"col\">{E(referenceName)}</th><th scope=\"col\">{E(currentName)}</th></tr>", rows);
    }

    /// <summary>A line over ordered points (a time series); points without a value leave a gap. The y axis starts at 0.</summary>
    public static string Line(string id, string caption, IReadOnlyList<LinePoint> points, Func<double, string> format)
    {
        if (points.All(p => p.Value is null))
        {
            return $"""<figure id="{E(id)}" class="chart"><figcaption>{E(caption)}</figcaption><p class="empty">No data.</p></figure>""";
        }
        const int plot = 120, top = 10, left = 60, bottom = 24;
        var max = Math.Max(points.Max(p => p.Value is { } v ? Finite(v) : 0), 1e-12);
        var step = points.Count > 1 ? (double)(Width - left - 10) / (points.Count - 1) : 0;
        var svg = new StringBuilder();
        svg.Append($"""<text x="{left - 6}" y="{top + 8}" text-anchor="end" class="small">{E(format(max))}</text><text x="{left - 6}" y="{top + plot}" text-anchor="end" class="small">{E(format(0))}</text>""");
        svg.Append($"""<line class="axis" x1="{left}" y1="{top + plot}" x2="{Width - 10}" y2="{top + plot}"/>""");
        var path = new StringBuilder();
        var pen = false;
        for (var i = 0; i < points.Count; i++)
        {
            if (points[i].Value is not { } v)
            {
                pen = false;
                continue;
            }
            path.Append(pen ? " L" : " M").Append(N(left + i * step)).Append(' ').Append(N(top + plot - plot * Finite(v) / max));
            pen = true;
        }
        svg.Append($"""<path class="line" d="{path.ToString().Trim()}"/>""");
        svg.Append($"""<text x="{left}" y="{top + plot + 16}" class="small">{E(points[0].Label)}</text><text x="{Width - 10}" y="{top + plot + 16}" text-anchor="end" class="small">{E(points[^1].Label)}</text>""");
        var rows = string.Concat(points.Select(p => $"<tr><th scope=\"row\">{E(p.Label)}</th><td>{(p.Value is { } v ? E(format(v)) : "–")}</td></tr>"));
        return Figure(id, caption, Width, top + plot + bottom, svg.ToString(), $"<tr><th scope=\"col\">time</th><th scope=\"col\">{E(caption)}</th></tr>", rows);
    }

    /// <summary>
    /// A lineage graph: the inputs (left) each with an arrow to the subject (middle), and arrows from the subject to what it
    /// feeds (right, e.g. its deployments). A node with a link is a link in the drawing too; the table repeats every node,
    /// its kind and its relation to the subject.
    /// </summary>
    public static string Lineage(string id, string caption, IReadOnlyList<LineageNode> inputs, LineageNode subject, IReadOnlyList<LineageNode> outputs)
    {
        const int row = 44, box = 34, side = 196, middle = 180, gap = (Width - 2 * side - middle) / 2;
        var rows = Math.Max(Math.Max(inputs.Count, outputs.Count), 1);
        var height = rows * row + 8;
        var svg = new StringBuilder();
        svg.Append($"""<defs><marker id="{E(id)}-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0 L8 4 L0 8 z" class="arrowhead"/></marker></defs>""");
        var subjectTop = (height - box) / 2.0;
        var subjectLeft = side + gap;
        double Top(int i, int count) => (height - count * row) / 2.0 + i * row + (row - box) / 2.0;
        string Node(LineageNode node, double x, double y, double w, string css)
        {
            var body = $"""<rect class="{css}" x="{N(x)}" y="{N(y)}" width="{N(w)}" height="{box}" rx="4"><title>{E(node.Kind)}: {E(node.Label)}</title></rect>"""
                       + $"""<text x="{N(x + 6)}" y="{N(y + 12)}" class="small">{E(node.Kind)}</text><text x="{N(x + 6)}" y="{N(y + 27)}">{E(Clip(node.Label, (int)(w / 7)))}</text>""";
            return node.Href is null ? body : $"""<a href="{E(node.Href)}">{body}</a>""";
        }
        for (var i = 0; i < inputs.Count; i++)
        {
            var y = Top(i, inputs.Count);
            svg.Append($"""<line class="edge" x1="{side}" y1="{N(y + box / 2.0)}" x2="{N(subjectLeft)}" y2="{N(subjectTop + box / 2.0)}" marker-end="url(#{E(id)}-arrow)"/>""");
            svg.Append(Node(inputs[i], 0, y, side, "node"));
        }
        for (var i = 0; i < outputs.Count; i++)
        {
            var y = Top(i, outputs.Count);
            svg.Append($"""<line class="edge" x1="{N(subjectLeft + middle)}" y1="{N(subjectTop + box / 2.0)}" x2="{Width - side}" y2="{N(y + box / 2.0)}" marker-end="url(#{E(id)}-arrow)"/>""");
            svg.Append(Node(outputs[i], Width - side, y, side, "node"));
        }
        svg.Append(Node(subject, subjectLeft, subjectTop, middle, "node subject"));
        string Cell(LineageNode node) => node.Href is null ? E(node.Label) : $"""<a href="{E(node.Href)}">{E(node.Label)}</a>""";
        var table = string.Concat(inputs.Select(n => $"""<tr><th scope="row">{E(n.Kind)}</th><td>{Cell(n)}</td><td>input of {E(subject.Label)}</td></tr>"""))
                    + string.Concat(outputs.Select(n => $"""<tr><th scope="row">{E(n.Kind)}</th><td>{Cell(n)}</td><td>{E(subject.Label)} feeds it</td></tr>"""));
        return Figure(id, caption, Width, height, svg.ToString(), "<tr><th scope=\"col\">kind</th><th scope=\"col\">name</th><th scope=\"col\">relation</th></tr>", table);
    }

    /// <summary>The chart's styles (appended to the console's stylesheet).</summary>
    public const string Stylesheet = """
        figure.chart { margin: 8px 0 16px; max-width: 680px; } figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
        figure.chart svg { width: 100%; height: auto; font: 12px system-ui, sans-serif; } figure.chart text { fill: var(--fg); } figure.chart text.small { font-size: 11px; fill: var(--muted); }
        figure.chart .bar { fill: var(--accent); } figure.chart .ref { fill: #8c959f; } figure.chart .cur { fill: var(--accent); }
        figure.chart .axis { stroke: var(--line); } figure.chart .line { fill: none; stroke: var(--accent); stroke-width: 2; }
        figure.chart .node { fill: var(--bg, #fff); stroke: var(--line); } figure.chart .node.subject { stroke: var(--accent); stroke-width: 2; }
        figure.chart .edge { stroke: #8c959f; stroke-width: 1.5; } figure.chart .arrowhead { fill: #8c959f; } figure.chart a text { fill: var(--accent); text-decoration: underline; }
        """;

    private static string Figure(string id, string caption, int width, int height, string body, string head, string rows) => $"""
        <figure id="{E(id)}" class="chart">
        <figcaption id="{E(id)}-caption">{E(caption)}</figcaption>
        <svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{E(id)}-caption" preserveAspectRatio="xMinYMin meet">{body}</svg>
        <table class="skip"><caption>{E(caption)}</caption><thead>{head}</thead><tbody>{rows}</tbody></table>
        </figure>
        """;

    private static double Finite(double value) => double.IsFinite(value) && value > 0 ? value : 0;

    private static string N(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>A share (0–1) as a percentage with one decimal.</summary>
    public static string Percent(double share) => (Finite(share) * 100).ToString("0.#", CultureInfo.InvariantCulture) + " %";

    private static string Clip(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";
}
