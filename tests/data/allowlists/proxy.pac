// Contact centre proxy auto-config — served from http://wpad.cc.example.net/proxy.pac
// v14, 2026-09-30: Amazon Connect CCP direct, everything else through the proxies.

function FindProxyForURL(url, host) {
    host = host.toLowerCase();

    // Internal names and networks
    if (isPlainHostName(host) ||
        dnsDomainIs(host, ".cc.example.net") ||
        isInNet(host, "10.0.0.0", "255.0.0.0"))
        return "DIRECT";

    // Amazon Connect: the CCP, its static assets and the WebSocket go direct
    if (shExpMatch(host, "*.my.connect.aws") ||
        shExpMatch(host, "*.static.connect.aws") ||
        dnsDomainIs(host, ".cloudfront.net") ||
        shExpMatch(host, "*.telemetry.connect.*.amazonaws.com"))
        return "DIRECT";

    return "PROXY proxy01.cc.example.net:3128; PROXY proxy02.cc.example.net:3128";
}
