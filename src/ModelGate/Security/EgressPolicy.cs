using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace ModelGate.Security;

/// <summary>Why an outbound address was refused: the host as named, the address it is (or resolved to), and the rule.</summary>
public sealed record EgressRefusal(string Host, string Address, string Reason)
{
    public override string ToString() => Host == Address ? $"{Address} {Reason}" : $"{Host} ({Address}) {Reason}";
}

/// <summary>Thrown from the connect callback of every outbound handler when the resolved address may not be reached.</summary>
public sealed class EgressDeniedException(EgressRefusal refusal)
    : HttpRequestException(HttpRequestError.ConnectionError, $"egress denied: {refusal}")
{
    public EgressRefusal Refusal { get; } = refusal;
}

/// <summary>
/// Where ModelGate may connect to on behalf of configuration and API callers (upstreams, evaluation upstreams, webhooks,
/// rollout hooks). Link-local and cloud metadata addresses are never reached; loopback, private, CGNAT and other
/// non-public ranges only when <c>Security:AllowedEgress</c> lists them (a CIDR or address) or names the host connected
/// to. Checked twice: on the URL when it is set (IP literals in any form, metadata host names; names are not resolved
/// then) and on every resolved address when a connection is made (<see cref="CreateHandler"/>), so a name that resolves
/// to a refused address is refused too.
/// </summary>
public sealed partial class EgressPolicy
{
    private static readonly IPNetwork[] AlwaysRefused =
    [
        IPNetwork.Parse("169.254.0.0/16"), // link-local, AWS/GCP/Azure/OpenStack metadata at 169.254.169.254
        IPNetwork.Parse("fe80::/10"),
        IPNetwork.Parse("fd00:ec2::254/128"), // AWS metadata over IPv6
        IPNetwork.Parse("100.100.100.200/32"), // Alibaba Cloud metadata
        IPNetwork.Parse("168.63.129.16/32"), // Azure wire server
    ];

    private static readonly IPNetwork[] Restricted =
    [
        IPNetwork.Parse("0.0.0.0/8"),
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("100.64.0.0/10"),
        IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.0.0.0/24"),
        IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("198.18.0.0/15"),
        IPNetwork.Parse("224.0.0.0/3"), // multicast, reserved and broadcast
        IPNetwork.Parse("::/128"),
        IPNetwork.Parse("::1/128"),
        IPNetwork.Parse("fc00::/7"),
        IPNetwork.Parse("ff00::/8"),
    ];

    /// <summary>Host names of cloud metadata services, refused whatever they resolve to.</summary>
    private static readonly HashSet<string> MetadataHosts = new(StringComparer.OrdinalIgnoreCase)
    {
        "metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.internal", "instance-data", "instance-data.ec2.internal",
        "metadata.tencentyun.com", "metadata.platformequinix.com",
    };

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork Ipv4Compatible = IPNetwork.Parse("::/96");

    private readonly IPNetwork[] _allowedNetworks;
    private readonly string[] _allowedHosts;
    private readonly ILogger<EgressPolicy> _logger;

    public EgressPolicy(IOptions<SecurityOptions> options, ILogger<EgressPolicy> logger)
    {
        _logger = logger;
        var networks = new List<IPNetwork>();
        var hosts = new List<string>();
        foreach (var entry in options.Value.AllowedEgress)
        {
            if (!TryParseAllowance(entry, out var network, out var host))
            {
                throw new OptionsValidationException(SecurityOptions.Section, typeof(SecurityOptions), [InvalidAllowance(entry)]);
            }
            if (network is { } n)
            {
                networks.Add(n);
            }
            else
            {
                hosts.Add(host!);
            }
        }
        (_allowedNetworks, _allowedHosts) = ([.. networks], [.. hosts]);
    }

    public static string InvalidAllowance(string entry) =>
        $"Security:AllowedEgress entry '{entry}' is not a CIDR (10.0.0.0/8, ::1/128), an IP address or a host name (optionally *.suffix)";

    /// <summary>An entry of <c>Security:AllowedEgress</c>: a network (an address is a /32 or /128) or a host name.</summary>
    public static bool TryParseAllowance(string entry, out IPNetwork? network, out string? host)
    {
        (network, host) = (null, null);
        var text = entry.Trim();
        if (IPNetwork.TryParse(text, out var parsed))
        {
            network = parsed;
            return true;
        }
        if (TryParseAddress(text, out var address))
        {
            network = new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }
        var name = text.StartsWith("*.", StringComparison.Ordinal) ? text[2..] : text;
        if (name.Length is 0 or > 253 || Uri.CheckHostName(name) != UriHostNameType.Dns)
        {
            return false;
        }
        host = text.TrimEnd('.').ToLowerInvariant();
        return true;
    }

    /// <summary>
    /// The check when a URL is set: an http(s) URL whose host, if an IP literal (in any form <see cref="Uri"/> accepts:
    /// <c>2130706433</c>, <c>0x7f000001</c>, <c>0177.0.0.1</c>, <c>127.1</c>, <c>[::ffff:127.0.0.1]</c>), is allowed, and
    /// is not a metadata host name. Null when allowed. Host names are resolved only when connecting.
    /// </summary>
    public EgressRefusal? CheckUrl(Uri url)
    {
        var host = url.IdnHost.TrimEnd('.');
        if (TryParseAddress(host, out var address))
        {
            return Check(address, null);
        }
        return MetadataHosts.Contains(host) ? new EgressRefusal(host, host, "is a cloud metadata service, which is never reachable") : null;
    }

    /// <summary>The rule for one address, reached by the host name <paramref name="host"/> (null when the URL named the address).</summary>
    public EgressRefusal? Check(IPAddress address, string? host)
    {
        var unwrapped = Unwrap(address);
        var shown = host ?? unwrapped.ToString();
        if (host is not null && MetadataHosts.Contains(host.TrimEnd('.')))
        {
            return new EgressRefusal(shown, unwrapped.ToString(), "is a cloud metadata service, which is never reachable");
        }
        foreach (var network in AlwaysRefused)
        {
            if (network.Contains(unwrapped))
            {
                return new EgressRefusal(shown, unwrapped.ToString(), $"is in {network} (link-local or cloud metadata), which is never reachable");
            }
        }
        foreach (var network in Restricted)
        {
            if (!network.Contains(unwrapped))
            {
                continue;
            }
            foreach (var allowed in _allowedNetworks)
            {
                if (allowed.Contains(unwrapped))
                {
                    return null;
                }
            }
            if (host is not null && HostAllowed(host))
            {
                return null;
            }
            return new EgressRefusal(shown, unwrapped.ToString(),
                $"is in {network} (loopback, private or reserved), which is reachable only when Security:AllowedEgress lists it");
        }
        return null;
    }

    private bool HostAllowed(string host)
    {
        var name = host.TrimEnd('.');
        foreach (var allowed in _allowedHosts)
        {
            if (allowed.StartsWith("*.", StringComparison.Ordinal)
                    ? name.EndsWith(allowed[1..], StringComparison.OrdinalIgnoreCase)
                    : name.Equals(allowed, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>An IPv4 address carried in IPv6 (mapped, NAT64, IPv4-compatible) is checked as the IPv4 address it carries.</summary>
    public static IPAddress Unwrap(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }
        if ((Nat64.Contains(address) || Ipv4Compatible.Contains(address)) && !address.Equals(IPAddress.IPv6Any) && !address.Equals(IPAddress.IPv6Loopback))
        {
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out _);
            return new IPAddress(bytes[12..]);
        }
        return address;
    }

    private static readonly System.Buffers.SearchValues<char> AddressCharacters = System.Buffers.SearchValues.Create("0123456789abcdefABCDEFxX.:");

    /// <summary>An IP literal in any form the URL parser and inet_aton accept (decimal, hex, octal, short, bracketed IPv6).</summary>
    public static bool TryParseAddress(string host, out IPAddress address)
    {
        var text = host.Length > 1 && host[0] == '[' && host[^1] == ']' ? host[1..^1] : host;
        if (IPAddress.TryParse(text, out address!))
        {
            return true;
        }
        // Uri normalises the IPv4 forms IPAddress does not (e.g. mixed octal/hex parts) when it parses a URL; only text
        // that can be an address is given to it (not "10.0.0.0/33", which would parse as a host and a path).
        if (text.Length > 0 && !text.AsSpan().ContainsAnyExcept(AddressCharacters) && Uri.TryCreate("http://" + (text.Contains(':') ? $"[{text}]" : text) + "/", UriKind.Absolute, out var uri) &&
            uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 && IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out address!))
        {
            return true;
        }
        address = IPAddress.None;
        return false;
    }

    /// <summary>
    /// The handler every outbound client uses: the policy is applied to the resolved address of each new connection (not
    /// per request: pooled connections are reused), redirects are not followed and no proxy is used (the proxy, not the
    /// policy, would choose the address).
    /// </summary>
    public SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        ConnectCallback = ConnectAsync,
    };

    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endpoint = context.DnsEndPoint;
        var host = endpoint.Host;
        IPAddress[] addresses;
        string? name;
        if (TryParseAddress(host, out var literal))
        {
            (addresses, name) = ([literal], null);
        }
        else
        {
            addresses = await Dns.GetHostAddressesAsync(host, cancellationToken);
            name = host;
        }
        EgressRefusal? refusal = null;
        Exception? failure = null;
        foreach (var address in addresses)
        {
            if (Check(address, name) is { } refused)
            {
                refusal ??= refused;
                continue;
            }
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endpoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (Exception e) when (e is SocketException)
            {
                socket.Dispose();
                failure = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        if (failure is not null)
        {
            throw failure;
        }
        refusal ??= new EgressRefusal(host, host, "did not resolve to any address");
        LogEgressDenied(_logger, refusal.Host, refusal.Address, refusal.Reason);
        throw new EgressDeniedException(refusal);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Egress denied: a connection to {Host} ({Address}) was refused because it {Reason}")]
    private static partial void LogEgressDenied(ILogger logger, string host, string address, string reason);
}
