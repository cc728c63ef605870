//! Real Chromium for browser tests: starts Debian's `chromedriver` on a free port, opens a headless
//! Chromium with a fresh profile, and offers the waits and the login every browser test needs.
//! Chromium is required: without chromedriver a browser test fails, naming how to install it;
//! `PALERA_SKIP_BROWSER=1` skips them instead and says so in the test output.

#![allow(dead_code)]

use fantoccini::{ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromedriver() -> Option<Driver> {
    let path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    match Command::new(&path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => Some(Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }),
        Err(e) => {
            if std::env::var("PALERA_SKIP_BROWSER").as_deref() != Ok("1") {
                panic!(
                    "chromedriver could not start ({e}): install Debian's `chromium` and \
                     `chromium-driver` (scripts/test does), or set PALERA_SKIP_BROWSER=1 to skip \
                     the browser tests"
                );
            }
            super::say_skipped(
                "a browser test",
                "PALERA_SKIP_BROWSER=1 and no chromedriver",
            );
            None
        }
    }
}

pub async fn browser(driver: &Driver) -> fantoccini::Client {
    // Two TLS back ends are linked in; WebDriver runs over plain HTTP but rustls wants one chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let profile = std::env::temp_dir().join(format!(
        "palera-chrome-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1366,768", format!("--user-data-dir={}", profile.display())]
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&driver.url)
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start Chromium through chromedriver: {e}"),
        }
    }
}

/// Waits until the element's text equals `want`, returning the last text seen.
pub async fn wait_text(c: &fantoccini::Client, css: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last == want {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

pub async fn login(c: &fantoccini::Client, base: &str, email: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(palera_server::cli::demo::DEMO_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("form.login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// An attribute of the first element matching `css` (None when absent).
pub async fn attr(c: &fantoccini::Client, css: &str, name: &str) -> Option<String> {
    let e = c.find(Locator::Css(css)).await.ok()?;
    e.attr(name).await.ok().flatten()
}

/// Waits (at most `limit`) until `css`'s attribute `name` is one of `want`; returns it.
pub async fn wait_attr(
    c: &fantoccini::Client,
    css: &str,
    name: &str,
    want: &[&str],
    limit: Duration,
) -> String {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        last = attr(c, css, name).await;
        if let Some(v) = last.as_deref().filter(|v| want.contains(v)) {
            return v.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{css}[{name}] never became one of {want:?}; last {last:?}");
}

/// The text of the first element matching `css` (empty when absent).
pub async fn text(c: &fantoccini::Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Clicks the first element matching `css`, failing with the selector when it is absent.
pub async fn click(c: &fantoccini::Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Types `text` into the focused element. Right after the page changes panels the focused
/// element can be one that is being hidden ("not interactable"): the keys are sent again once
/// focus has settled (up to 3 s), as a person would press them again.
pub async fn keys(c: &fantoccini::Client, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let sent = c.active_element().await.unwrap().send_keys(text).await;
        match sent {
            Ok(()) => return,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::ElementNotInteractable
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("typing {text:?}: {e}"),
        }
    }
}

/// Alt + `key` on the focused element.
pub async fn alt(c: &fantoccini::Client, key: &str) {
    keys(c, &format!("\u{E00A}{key}\u{E000}")).await;
}

/// The value of a JavaScript expression in the page.
pub async fn js(c: &fantoccini::Client, expr: &str) -> serde_json::Value {
    c.execute(&format!("return {expr};"), vec![]).await.unwrap()
}

/// Waits (at most 20 s) until the JavaScript expression is true, or fails saying what it was
/// waiting for.
pub async fn until(c: &fantoccini::Client, js: &str, what: &str) {
    until_within(c, js, what, Duration::from_secs(20)).await
}

/// [`until`] with its own limit, for steps that wait on the server's background work (a
/// campaign dialling and connecting), which a loaded machine slows down.
pub async fn until_within(c: &fantoccini::Client, js: &str, what: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let ok = c
            .execute(&format!("return !!({js});"), vec![])
            .await
            .map(|v| v.as_bool() == Some(true))
            .unwrap_or(false);
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Replaces the value of the input matching `css` by typing `text` into it (as a person would:
/// focus, select all, type), then leaves it (so `change` fires).
pub async fn fill(c: &fantoccini::Client, css: &str, text: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
    e.clear()
        .await
        .unwrap_or_else(|e| panic!("clear {css}: {e}"));
    e.send_keys(&format!("{text}\u{E004}"))
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// Picks the option with this value in the select matching `css`.
pub async fn choose(c: &fantoccini::Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("choose {value:?} in {css}: {e}"));
}
