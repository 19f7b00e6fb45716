function FindProxyForURL(url, host)
{ 
     return "SOCKS 98.188.47.132:4145";
}