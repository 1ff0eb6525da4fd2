//! A captured request as a `curl` command (to send it again by hand, to the bin or anywhere),
//! and the shell quoting that makes the command safe to paste whatever the request held.

use super::is_forwarded;
use crate::domain::bins::Capture;
use base64::Engine as _;

/// `curl` sending the captured request to `base` + its path and query. A text body is passed
/// inline; a binary one is decoded from base64 on stdin, so the command stays one pasteable
/// line and keeps every byte.
pub fn curl_command(capture: &Capture, base: &str) -> String {
    let mut url = format!("{}{}", base.trim_end_matches('/'), capture.path);
    if !capture.query.is_empty() {
        url.push('?');
        url.push_str(&capture.query);
    }
    let mut parts = vec![
        "curl".to_owned(),
        "-X".to_owned(),
        quote(&capture.method),
        quote(&url),
    ];
    for (name, value) in capture.headers.iter().filter(|(n, _)| is_forwarded(n)) {
        parts.push("-H".into());
        parts.push(quote(&format!("{name}: {value}")));
    }
    if capture.body.is_empty() {
        return parts.join(" ");
    }
    match std::str::from_utf8(&capture.body) {
        Ok(text) => {
            parts.push("--data-binary".into());
            parts.push(quote(text));
            parts.join(" ")
        }
        Err(_) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&capture.body);
            parts.push("--data-binary".into());
            parts.push("@-".into());
            format!(
                "printf %s {} | base64 -d | {}",
                quote(&encoded),
                parts.join(" ")
            )
        }
    }
}

/// POSIX shell single quotes: nothing inside is special except `'` itself.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bins::{BinId, CaptureId};

    fn capture(body: &[u8]) -> Capture {
        Capture {
            id: CaptureId::from_seq(1),
            bin_id: BinId::generate(),
            method: "PUT".into(),
            path: "/hooks/it's".into(),
            query: "a=1&b=2".into(),
            headers: vec![
                ("Host".into(), "example.com".into()),
                ("X-Quote".into(), "it's".into()),
                ("Content-Length".into(), "3".into()),
            ],
            body: body.to_vec(),
            remote_addr: "127.0.0.1:1".into(),
            received_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn text_bodies_inline_and_quotes_escaped() {
        let cmd = curl_command(&capture(b"{\"a\":'1'}"), "http://localhost:3000/");
        assert_eq!(
            cmd,
            r#"curl -X 'PUT' 'http://localhost:3000/hooks/it'\''s?a=1&b=2' -H 'X-Quote: it'\''s' --data-binary '{"a":'\''1'\''}'"#
        );
    }

    #[test]
    fn binary_bodies_go_through_base64() {
        let cmd = curl_command(&capture(&[0xff, 0x00, 0x01]), "http://h");
        assert!(
            cmd.starts_with("printf %s '/wAB' | base64 -d | curl -X 'PUT'"),
            "{cmd}"
        );
        assert!(cmd.ends_with("--data-binary @-"), "{cmd}");
    }
}
