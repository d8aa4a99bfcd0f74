//! A minimal HTTP/1.1 client over one keep-alive connection: enough to sign in and call
//! the dashboard's server functions the way a browser does (form posts with the session
//! cookie and a same-site `Origin`), without pulling a second HTTP stack into the build.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::BenchError;

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// From the request's first byte written to the response's last byte read.
    pub elapsed: Duration,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Client {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    /// `name=value` pairs the server set, sent back with every request.
    cookie: Option<String>,
    /// An API token, sent as `Authorization: Bearer` with every request.
    bearer: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            cookie: None,
            bearer: None,
        }
    }

    /// A client of `/api/v1` with the API token `token`.
    pub fn with_token(addr: SocketAddr, token: &str) -> Self {
        Self {
            bearer: Some(token.to_owned()),
            ..Self::new(addr)
        }
    }

    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// Another connection in the same session, as a second tab of the browser.
    pub fn same_session(&self) -> Self {
        Self {
            addr: self.addr,
            stream: None,
            cookie: self.cookie.clone(),
            bearer: self.bearer.clone(),
        }
    }

    /// Signs in as a browser's login form does; the session cookie is kept.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Result<(), BenchError> {
        let body = format!(
            "email={}&password={}&next=%2F",
            form_encode(email),
            form_encode(password)
        );
        let response = self.post("/login", &body).await?;
        let to = response.header("location").unwrap_or_default();
        if response.status != 303 || to.contains("error") {
            return Err(format!("sign-in refused: {} {to}", response.status).into());
        }
        let cookies: Vec<&str> = response
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .collect();
        if cookies.is_empty() {
            return Err("sign-in set no cookie".into());
        }
        self.cookie = Some(cookies.join("; "));
        Ok(())
    }

    /// `POST path` with a form body; reconnects once if the server closed the connection.
    pub async fn post(&mut self, path: &str, form: &str) -> Result<Response, BenchError> {
        self.send(path, Some(form)).await
    }

    /// `GET path`; reconnects once if the server closed the connection.
    pub async fn get(&mut self, path: &str) -> Result<Response, BenchError> {
        self.send(path, None).await
    }

    async fn send(&mut self, path: &str, form: Option<&str>) -> Result<Response, BenchError> {
        match self.try_send(path, form).await {
            Ok(response) => Ok(response),
            Err(_) => {
                self.stream = None;
                self.try_send(path, form).await
            }
        }
    }

    async fn try_send(&mut self, path: &str, form: Option<&str>) -> Result<Response, BenchError> {
        let host = self.addr.to_string();
        let mut request = match form {
            Some(form) => format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n\
                 Content-Length: {}\r\n",
                form.len()
            ),
            None => format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n"),
        };
        if let Some(cookie) = &self.cookie {
            request.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        if let Some(token) = &self.bearer {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(form.unwrap_or_default());
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let tcp = TcpStream::connect(self.addr).await?;
                tcp.set_nodelay(true)?;
                self.stream.insert(BufReader::new(tcp))
            }
        };
        let started = Instant::now();
        stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP status line: {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                return Err("connection closed in the headers".into());
            }
            let text = line.trim_end();
            if text.is_empty() {
                break;
            }
            if let Some((name, value)) = text.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let mut body = Vec::new();
        if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                line.clear();
                stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| format!("bad chunk size {line:?}"))?;
                let start = body.len();
                body.resize(start + size + 2, 0);
                stream.read_exact(&mut body[start..]).await?;
                body.truncate(start + size);
                if size == 0 {
                    break;
                }
            }
        } else if let Some(length) = header("content-length") {
            let length: usize = length.parse().map_err(|_| "bad content-length")?;
            body.resize(length, 0);
            stream.read_exact(&mut body).await?;
        }
        let elapsed = started.elapsed();
        if header("connection").is_some_and(|v| v == "close") {
            self.stream = None;
        }
        Ok(Response {
            status,
            headers,
            body,
            elapsed,
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of `text`.
pub fn form_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, billie_dashboard::app::QUERY_VALUE).to_string()
}
