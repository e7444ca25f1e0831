//! Telling a network failure of helm from a chart problem, by the text of Go's network
//! errors in helm's stderr, and naming the URL that could not be reached.
//!
//! Only Go's own wording counts ("no such host", "connect: connection refused", "i/o timeout",
//! "x509: ..."), never a loose word like "timeout" or "not found": a wrong chart version
//! ("version \"9.9.9\" not found") or a value named `timeout` must stay a chart error.

use std::net::IpAddr;

/// Go's network error texts, and what each means for the user. The first match wins, so the
/// more precise texts come first.
const FAILURES: &[(&str, &str)] = &[
    ("no such host", "the host name does not resolve"),
    ("server misbehaving", "the host name does not resolve"),
    (
        "Temporary failure in name resolution",
        "the host name does not resolve",
    ),
    ("connection refused", "the connection was refused"),
    ("connection reset by peer", "the connection was reset"),
    ("network is unreachable", "the network is unreachable"),
    ("no route to host", "there is no route to the host"),
    ("TLS handshake timeout", "the TLS handshake timed out"),
    ("i/o timeout", "the connection timed out"),
    ("Client.Timeout exceeded", "the request timed out"),
    ("timeout awaiting response headers", "the request timed out"),
    ("context deadline exceeded", "the request timed out"),
    ("x509: ", "its TLS certificate is not trusted"),
    ("remote error: tls:", "the TLS handshake failed"),
    ("tls: handshake failure", "the TLS handshake failed"),
    (
        "tls: first record does not look like a TLS handshake",
        "it does not speak TLS",
    ),
];

/// The network failure helm's stderr shows, if any: what it means, and the line that says so.
pub(super) fn diagnose(stderr: &str) -> Option<(&'static str, &str)> {
    stderr.lines().find_map(|line| {
        FAILURES
            .iter()
            .find(|(text, _)| line.contains(text))
            .map(|(_, reason)| (*reason, line.trim()))
    })
}

/// The line of helm's stderr to show: its `Error:` line, else its last line.
pub(super) fn error_line(stderr: &str) -> &str {
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    lines
        .clone()
        .rfind(|l| l.starts_with("Error:"))
        .or_else(|| lines.next_back())
        .unwrap_or("no output")
}

/// The URL to name for a network failure reported in `line`: the repository of the stack
/// (`known`) that helm was talking to, else the URL helm names, else every known one.
pub(super) fn url_named(line: &str, known: &[String]) -> String {
    let requested = quoted_urls(line);
    for r in &requested {
        if let Some(k) = known.iter().find(|k| host(k) == host(r)) {
            return k.clone();
        }
    }
    if let Some(k) = known.iter().find(|k| {
        let h = host(k);
        !h.is_empty() && line.contains(h)
    }) {
        return k.clone();
    }
    match (requested.first(), known) {
        (Some(r), []) => (*r).to_string(),
        (Some(r), _) => format!("{} (via {r})", known.join(", ")),
        (None, []) => "the chart repository".to_string(),
        (None, _) => known.join(", "),
    }
}

/// Whether the URL's host is this machine (`localhost`, `127.0.0.0/8`, `::1`).
pub(super) fn is_loopback(url: &str) -> bool {
    let h = host(url);
    let name = match h.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => h.rsplit_once(':').map_or(h, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                h
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` of a URL (`scheme://host[:port]/...`), or "" when it has no scheme.
fn host(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("://") else {
        return "";
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit('@').next().unwrap_or(authority)
}

/// The URLs Go quotes in an error (`Get "https://host/index.yaml": ...`).
fn quoted_urls(line: &str) -> Vec<&str> {
    line.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            ["http://", "https://", "oci://"]
                .iter()
                .any(|p| s.starts_with(p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(urls: &[&str]) -> Vec<String> {
        urls.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn network_failures_are_recognised_by_gos_wording() {
        let cases = [
            (
                r#"Error: looks like "https://charts.example.invalid" is not a valid chart repository or cannot be reached: Get "https://charts.example.invalid/index.yaml": dial tcp: lookup charts.example.invalid on 127.0.0.53:53: no such host"#,
                "the host name does not resolve",
            ),
            (
                r#"Error: looks like "http://127.0.0.1:9" is not a valid chart repository or cannot be reached: Get "http://127.0.0.1:9/index.yaml": dial tcp 127.0.0.1:9: connect: connection refused"#,
                "the connection was refused",
            ),
            (
                r#"Error: failed to do request: Head "https://registry.example.com/v2/charts/app/manifests/1.0.0": dial tcp 10.0.0.1:443: i/o timeout"#,
                "the connection timed out",
            ),
            (
                r#"Error: Get "https://charts.example.com/index.yaml": net/http: TLS handshake timeout"#,
                "the TLS handshake timed out",
            ),
            (
                r#"Error: Get "https://charts.example.com/index.yaml": tls: failed to verify certificate: x509: certificate signed by unknown authority"#,
                "its TLS certificate is not trusted",
            ),
        ];
        for (stderr, reason) in cases {
            assert_eq!(diagnose(stderr).map(|d| d.0), Some(reason), "{stderr}");
        }
    }

    #[test]
    fn chart_problems_are_not_network_failures() {
        for stderr in [
            r#"Error: chart "app" version "9.9.9" not found in http://127.0.0.1:8080 repository"#,
            "Error: failed to fetch oci://127.0.0.1:5000/charts/app:9.9.9 : 127.0.0.1:5000/charts/app:9.9.9: not found",
            r#"Error: template: app/templates/job.yaml:7:20: executing "app/templates/job.yaml" at <.Values.timeout.seconds>: nil pointer evaluating interface {}.seconds"#,
            "Error: execution error at (app/templates/a.yaml:1:4): could not find the database host",
            "Error: INSTALLATION FAILED: context canceled",
            "Error: values don't meet the specifications of the schema(s) in the following chart(s):\napp:\n- ingress.tls: Invalid type. Expected: array, given: string",
        ] {
            assert_eq!(diagnose(stderr), None, "{stderr}");
        }
    }

    #[test]
    fn the_url_named_is_the_stacks_own() {
        let line = r#"Error: failed to do request: Head "http://127.0.0.1:5000/v2/charts/app/manifests/1.0.0": dial tcp 127.0.0.1:5000: connect: connection refused"#;
        assert_eq!(
            url_named(line, &known(&["oci://127.0.0.1:5000/charts"])),
            "oci://127.0.0.1:5000/charts"
        );
        // A dependency build talks to several repositories: the one that failed is named.
        let line = r#"Get "https://b.example.com/index.yaml": dial tcp: lookup b.example.com: no such host"#;
        assert_eq!(
            url_named(
                line,
                &known(&["https://a.example.com", "https://b.example.com/"])
            ),
            "https://b.example.com/"
        );
        // A redirect elsewhere names both.
        let line = r#"Get "https://objects.example.net/x.tgz": dial tcp: lookup objects.example.net: no such host"#;
        assert_eq!(
            url_named(line, &known(&["https://a.example.com"])),
            "https://a.example.com (via https://objects.example.net/x.tgz)"
        );
        assert_eq!(url_named(line, &[]), "https://objects.example.net/x.tgz");
    }

    #[test]
    fn only_loopback_hosts_count_as_this_machine() {
        for url in [
            "oci://127.0.0.1:5000/charts",
            "oci://localhost/charts",
            "oci://127.3.4.5",
            "oci://[::1]:5000/x",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "oci://registry-1.docker.io/bitnamicharts",
            "oci://10.0.0.1:5000/charts",
            "oci://localhost.example.com/charts",
            "oci://[::2]:5000/x",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn the_error_line_is_helms_error() {
        assert_eq!(
            error_line("walk.go:75: found symbolic link\nError: chart is broken\n"),
            "Error: chart is broken"
        );
        assert_eq!(error_line("something\nelse\n"), "else");
        assert_eq!(error_line(""), "no output");
    }
}
