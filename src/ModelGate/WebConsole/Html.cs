using System.Text;
using System.Text.Encodings.Web;

namespace ModelGate.WebConsole;

/// <summary>
/// The console's HTML, written by C# on the server (no template engine, no JavaScript): every value that comes from data or
/// the request goes through <see cref="E"/>, so nothing a user stored can become markup.
/// </summary>
public static class Html
{
    /// <summary>Text as HTML (element content and quoted attribute values alike).</summary>
    public static string E(string? text) => text is null ? "" : Encoder.Encode(text);

    /// <summary>Letters of every script stay readable; markup characters (and '+', against UTF-7 sniffing) are encoded.</summary>
    private static readonly HtmlEncoder Encoder = HtmlEncoder.Create(System.Text.Unicode.UnicodeRanges.All);

    /// <summary>A hidden field with the session's anti-forgery token, for every form that posts.</summary>
    public static string Csrf(ConsoleSession session) => $"""<input type="hidden" name="{ConsoleSessions.CsrfField}" value="{E(session.CsrfToken)}">""";

    /// <summary>A whole page: the shared header (navigation, who is signed in, sign-out) around <paramref name="main"/>.</summary>
    public static string Page(string title, string main, ConsoleSession? session, string? current = null)
    {
        var page = new StringBuilder(main.Length + 2048);
        page.Append($"""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{E(title)} · ModelGate</title>
            <link rel="stylesheet" href="/console/console.css">
            </head>
            <body>
            <a class="skip" href="#main">Skip to content</a>
            <header>
            <a class="brand" href="/console">ModelGate</a>
            """);
        if (session is not null)
        {
            page.Append($"""
                <nav aria-label="Console"><ul>
                <li><a href="/console"{(current == "catalog" ? " aria-current=\"page\"" : "")}>Catalog</a></li>
                <li><a href="/console/deployments"{(current == "deployments" ? " aria-current=\"page\"" : "")}>Deployments</a></li>
                {(session.Key.Deployments is null ? Link("/console/dashboards", "Dashboards", "dashboards") + Link("/console/alerts", "Alerts", "alerts") + Link("/console/audit", "Audit", "audit") : "")}
                {(session.Key.Deployments is null && session.User.IsInRole(Client.Roles.Admin) ? Link("/console/keys", "Keys", "keys") + Link("/console/principals", "Principals", "principals") : "")}
                </ul></nav>
                <div class="who"><span data-testid="whoami">{E(session.User.Identity?.Name)}</span>
                <form id="sign-out" method="post" action="/console/sign-out">{Csrf(session)}<button type="submit">Sign out</button></form></div>
                """);
        }
        page.Append($"""
            </header>
            <main id="main">
            {main}
            </main>
            </body>
            </html>
            """);
        return page.ToString();

        string Link(string href, string text, string name) =>
            $"""<li><a href="{href}"{(current == name ? " aria-current=\"page\"" : "")}>{text}</a></li>""";
    }

    /// <summary>The console's stylesheet: one small file, no fonts or images fetched from anywhere.</summary>
    public const string Stylesheet = """
        :root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --accent: #0b5cad; --bad: #b3261e; --soft: #f6f8fa; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
        a { color: var(--accent); }
        .skip { position: absolute; left: -9999px; } .skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; z-index: 1; }
        header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px; padding: 10px 20px; border-bottom: 1px solid var(--line); background: var(--soft); }
        .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
        nav ul { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; margin: 0; padding: 0; }
        nav a[aria-current] { font-weight: 600; text-decoration: none; color: var(--fg); }
        .who { margin-left: auto; display: flex; align-items: center; gap: 10px; color: var(--muted); }
        .who form { margin: 0; }
        main { padding: 20px; max-width: 1200px; }
        h1 { font-size: 1.4rem; margin: 0 0 16px; }
        form.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; margin-bottom: 16px; }
        label { display: flex; flex-direction: column; gap: 4px; font-size: .85rem; color: var(--muted); }
        input, select, button { font: inherit; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
        button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); }
        button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #f0b400; outline-offset: 2px; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        thead th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
        .tag { display: inline-block; padding: 0 6px; border-radius: 10px; background: var(--soft); border: 1px solid var(--line); font-size: .8rem; }
        .tier-high { color: var(--bad); font-weight: 600; }
        .empty { color: var(--muted); }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; } dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
        ol.timeline { list-style: none; padding: 0; } ol.timeline li { padding: 6px 0; border-left: 3px solid var(--line); padding-left: 12px; }
        ul.metrics { margin: 0; padding-left: 16px; } code { overflow-wrap: anywhere; } pre { white-space: pre-wrap; }
        h2 { font-size: 1.1rem; margin: 24px 0 8px; }
        textarea { font: inherit; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; width: 100%; max-width: 520px; }
        fieldset { border: 1px solid var(--line); border-radius: 6px; display: flex; flex-wrap: wrap; gap: 6px 16px; }
        form#approve, form#rollback { display: flex; flex-direction: column; gap: 10px; align-items: flex-start; }
        label.check { flex-direction: row; align-items: center; gap: 8px; color: var(--fg); }
        .done { border: 1px solid #1a7f37; color: #1a7f37; border-radius: 6px; padding: 8px 12px; }
        [role=alert] { color: var(--bad); border: 1px solid var(--bad); border-radius: 6px; padding: 8px 12px; margin-bottom: 12px; }
        .card { max-width: 420px; margin: 40px auto; border: 1px solid var(--line); border-radius: 10px; padding: 24px; }
        .card form { display: flex; flex-direction: column; gap: 14px; }
        @media (max-width: 600px) { main { padding: 12px; } th, td { padding: 6px; } .who { margin-left: 0; width: 100%; justify-content: space-between; } }
        """;
}
