//! The addresses a chain of proxies wrote into `X-Forwarded-For` or `Forwarded` (RFC 7239).

use std::net::{IpAddr, SocketAddr};

use axum::http::header::FORWARDED;
use axum::http::{HeaderMap, HeaderName};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// One hop of the chain: an address, or `None` for anything else (`unknown`, an obfuscated
/// identifier such as `_proxy1`, an element without `for=`, text that is not an address).
pub(super) type Hop = Option<IpAddr>;

/// The hops the proxies recorded, the nearest last; `None` when the request carries no such
/// header. `X-Forwarded-For` is what ingress controllers and load balancers maintain, so it
/// wins; `Forwarded` is read only when there is no `X-Forwarded-For` at all. Several header
/// lines are one list, in order.
pub(super) fn hops(headers: &HeaderMap) -> Option<Vec<Hop>> {
    if headers.contains_key(&X_FORWARDED_FOR) {
        let mut hops = Vec::new();
        for value in headers.get_all(&X_FORWARDED_FOR) {
            match value.to_str() {
                Ok(text) => hops.extend(text.split(',').map(node)),
                Err(_) => hops.push(None),
            }
        }
        return Some(hops);
    }
    if headers.contains_key(FORWARDED) {
        let mut hops = Vec::new();
        for value in headers.get_all(FORWARDED) {
            match value.to_str() {
                Ok(text) => hops.extend(split_unquoted(text, ',').into_iter().map(element_for)),
                Err(_) => hops.push(None),
            }
        }
        return Some(hops);
    }
    None
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.60;proto=http;by=203.0.113.43`).
fn element_for(element: &str) -> Hop {
    split_unquoted(element, ';').into_iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            node(value)
        } else {
            None
        }
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `"[2001:db8::1]:4711"`. IPv4-mapped IPv6 addresses count as IPv4.
fn node(text: &str) -> Hop {
    let text = text.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
        .trim();
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<IpAddr>().ok())
        })?;
    Some(ip.to_canonical())
}

/// `text` split at `separator` outside double quotes (a quoted string may hold one).
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> Hop {
        Some(text.parse().unwrap())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn x_forwarded_for_lines_are_one_list_in_order() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7, 10.0.0.1:8080"),
            (
                "x-forwarded-for",
                "[2001:db8::1]:443,unknown, ::ffff:192.0.2.9",
            ),
        ]);
        assert_eq!(
            hops(&h).unwrap(),
            vec![
                ip("203.0.113.7"),
                ip("10.0.0.1"),
                ip("2001:db8::1"),
                None,
                ip("192.0.2.9"),
            ]
        );
    }

    #[test]
    fn forwarded_elements_give_their_for_node() {
        let h = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711", for=_hidden, proto=https, for="a,b""#,
        )]);
        assert_eq!(
            hops(&h).unwrap(),
            vec![ip("192.0.2.60"), ip("2001:db8:cafe::17"), None, None, None]
        );
    }

    #[test]
    fn x_forwarded_for_wins_and_no_header_is_none() {
        let h = headers(&[
            ("forwarded", "for=192.0.2.1"),
            ("x-forwarded-for", "192.0.2.2"),
        ]);
        assert_eq!(hops(&h).unwrap(), vec![ip("192.0.2.2")]);
        assert_eq!(hops(&HeaderMap::new()), None);
        let bad = headers(&[("x-forwarded-for", "")]);
        assert_eq!(hops(&bad).unwrap(), vec![None]);
    }
}
