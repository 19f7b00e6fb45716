function FindProxyForURL(url, host) {
    return "PROXY 89.43.140.217:12324";
}
