//! A console session over plain HTTP, the way a browser holds one: the session cookie from
//! signing in with the admin token, and the CSRF token its pages carry. Redirects are not
//! followed, so each answer (303 to a page, 422 with the form again …) can be checked.

use super::server::TestServer;
use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

pub struct Console<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
}

/// The value of the first `_csrf` hidden field in a page.
fn csrf_in(page: &str) -> String {
    let marker = r#"name="_csrf" value=""#;
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field in the page:\n{page}"));
    let rest = &page[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

impl<'a> Console<'a> {
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap()
    }

    pub async fn sign_in(server: &'a TestServer) -> Self {
        let http = Self::client();
        let response = http
            .post(server.url("/login"))
            .form(&[("token", server.token()), ("next", "/apps")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "signing in");
        let set = response.headers()[SET_COOKIE].to_str().unwrap();
        let mut console = Self {
            server,
            http,
            cookie: set.split(';').next().unwrap().trim().to_owned(),
            csrf: String::new(),
        };
        let (_, page) = console.get("/apps").await;
        console.csrf = csrf_in(&page);
        console
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(self.server.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Posts a form with the session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = fields.to_vec();
        all.push(("_csrf", &self.csrf));
        self.http
            .post(self.server.url(path))
            .header(COOKIE, &self.cookie)
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form and returns the status and the page answered.
    pub async fn post_page(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self.post(path, fields).await;
        (r.status(), r.text().await.unwrap())
    }

    /// Where a redirect points.
    pub fn location(r: &reqwest::Response) -> String {
        r.headers()[LOCATION].to_str().unwrap().to_owned()
    }

    /// Opens one of the console's live streams as `EventSource` does.
    pub async fn stream(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.server.url(path))
            .header(COOKIE, &self.cookie)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .unwrap()
    }
}
