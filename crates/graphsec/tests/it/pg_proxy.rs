//! A TCP proxy on 127.0.0.1 between a server and PostgreSQL: it can be stopped (listener and
//! every connection closed) and started again on the same port, and it can cut one connection
//! just before or just after a chosen message reaches the database.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Where the next message holding a marker (a value the test wrote, which travels as a bound
/// parameter whether or not the statement was prepared before) loses its connection; then the
/// proxy passes everything again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    Off,
    /// The message is swallowed and both sides are closed: nothing of it reaches the database,
    /// the server sees its connection drop.
    Before(&'static str),
    /// The message reaches the database, then the server's side is closed before any answer: a
    /// write is stored, and the server is not told.
    After(&'static str),
    /// As `After`, and then the database host is gone: every connection is closed when it is
    /// next used and new ones are refused, until [`Proxy::back`].
    AfterThenGone(&'static str),
}

pub struct Proxy {
    pub port: u16,
    upstream: String,
    cut: Arc<Mutex<Cut>>,
    gone: Arc<AtomicBool>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let cut = Arc::new(Mutex::new(Cut::Off));
        let mut proxy = Proxy { port: 0, upstream, cut, gone: Arc::default(), tasks: Arc::default(), accept: None };
        proxy.listen().await;
        proxy
    }

    /// Listens again on the same port after [`Proxy::stop`].
    pub async fn listen(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.expect("proxy binds");
        self.port = listener.local_addr().expect("proxy address").port();
        let (upstream, cut, tasks) = (self.upstream.clone(), self.cut.clone(), self.tasks.clone());
        let gone = self.gone.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if gone.load(Ordering::SeqCst) {
                    continue;
                }
                let link =
                    Link { upstream: upstream.clone(), cut: cut.clone(), gone: gone.clone(), tasks: tasks.clone() };
                let task = tokio::spawn(pipe(client, link));
                tasks.lock().unwrap().push(task);
            }
        }));
    }

    /// Closes the listener and every open connection, as a database host that went away would.
    pub async fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn arm(&self, cut: Cut) {
        *self.cut.lock().unwrap() = cut;
    }

    /// The database host is reachable again after [`Cut::AfterThenGone`].
    pub fn back(&self) {
        self.gone.store(false, Ordering::SeqCst);
    }

    /// Whether the armed cut has happened.
    pub fn fired(&self) -> bool {
        *self.cut.lock().unwrap() == Cut::Off
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

fn contains(chunk: &[u8], pattern: &[u8]) -> bool {
    chunk.windows(pattern.len()).any(|w| w == pattern)
}

/// Takes the armed cut if this chunk is where it happens.
fn take_cut(cut: &Mutex<Cut>, chunk: &[u8]) -> Option<Cut> {
    let mut armed = cut.lock().unwrap();
    match *armed {
        Cut::Before(marker) | Cut::After(marker) | Cut::AfterThenGone(marker) if contains(chunk, marker.as_bytes()) => {
            Some(std::mem::replace(&mut *armed, Cut::Off))
        }
        _ => None,
    }
}

/// What one proxied connection shares with the proxy.
struct Link {
    upstream: String,
    cut: Arc<Mutex<Cut>>,
    gone: Arc<AtomicBool>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

async fn pipe(client: TcpStream, link: Link) {
    let Ok(server) = TcpStream::connect(&link.upstream).await else { return };
    let (mut client_read, client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let hang_up = Arc::new(Notify::new());
    let hung_up = hang_up.clone();
    // Database to server; after a hang-up the database's answers are read and dropped, so the
    // socket closes cleanly once the database is done with it.
    let down = tokio::spawn(async move {
        let mut to_client = Some(client_write);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = tokio::select! {
                biased;
                _ = hung_up.notified(), if to_client.is_some() => {
                    to_client = None;
                    continue;
                }
                read = server_read.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                },
            };
            if let Some(w) = to_client.as_mut()
                && w.write_all(&buf[..n]).await.is_err()
            {
                to_client = None;
            }
        }
    });
    link.tasks.lock().unwrap().push(down);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if link.gone.load(Ordering::SeqCst) {
            break;
        }
        match take_cut(&link.cut, chunk) {
            None => {
                if server_write.write_all(chunk).await.is_err() {
                    break;
                }
            }
            Some(Cut::After(_)) => {
                let _ = server_write.write_all(chunk).await;
                break;
            }
            Some(Cut::AfterThenGone(_)) => {
                let _ = server_write.write_all(chunk).await;
                link.gone.store(true, Ordering::SeqCst);
                break;
            }
            Some(_) => break,
        }
    }
    // Closes the server's side (both halves) and sends the database a FIN after what it was sent.
    hang_up.notify_one();
    drop(client_read);
    let _ = server_write.shutdown().await;
}
