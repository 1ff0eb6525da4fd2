//! An app portal session over plain HTTP, as a browser in an iframe holds it: a link's key
//! traded for the session cookies, then pages and forms with that session's CSRF token.

use super::{Console, TestServer};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;

/// A portal session: the cookies `/portal/session` set, and the CSRF token of its pages.
pub struct Portal<'a> {
    server: &'a TestServer,
    pub http: reqwest::Client,
    pub cookies: String,
    pub csrf: String,
}

impl<'a> Portal<'a> {
    /// Opens a link as `portal.js` does: the key (and theme) posted to `/portal/session`.
    pub async fn open(server: &'a TestServer, token: &str, theme: &[(&str, &str)]) -> Self {
        let http = Console::client();
        let mut form = vec![("key", token)];
        form.extend_from_slice(theme);
        let r = http
            .post(server.url("/portal/session"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "opening the link");
        let set: Vec<String> = r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            set.iter()
                .all(|c| c.contains("HttpOnly") && c.contains("Path=/portal")),
            "{set:?}"
        );
        let cookies = set
            .iter()
            .map(|c| c.split(';').next().unwrap().trim().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        let mut portal = Self {
            server,
            http,
            cookies,
            csrf: String::new(),
        };
        let (status, page) = portal.get("/portal/endpoints").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let marker = r#"name="_csrf" value=""#;
        let at = page.find(marker).expect("a CSRF field") + marker.len();
        portal.csrf = page[at..at + page[at..].find('"').unwrap()].to_owned();
        portal
    }

    /// A GET with the session's cookies, answered as it came (headers, bytes).
    pub async fn get_response(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.server.url(path))
            .header(COOKIE, &self.cookies)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(self.server.url(path))
            .header(COOKIE, &self.cookies)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = fields.to_vec();
        all.push(("_csrf", &self.csrf));
        self.http
            .post(self.server.url(path))
            .header(COOKIE, &self.cookies)
            .form(&all)
            .send()
            .await
            .unwrap()
    }
}

/// A link's token for `app` (`body` is an `AppPortalAccessIn`), asked for with the admin token.
pub async fn issue_portal_link(server: &TestServer, app: &str, body: serde_json::Value) -> String {
    let out = server
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), &body)
        .await;
    out["token"].as_str().unwrap().to_owned()
}
