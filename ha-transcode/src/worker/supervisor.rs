//! The supervisor: runs a worker process per job, publishes its segments through the
//! [`SegmentGate`], and turns every way a worker can go wrong into a typed failure.
//!
//! - crash (non-zero exit, a signal): [`WorkerError::WorkerCrashed`], with the tail of its stderr;
//! - hang (no report within [`SupervisorConfig::stall_timeout`]): killed, [`WorkerError::WorkerStalled`];
//! - veto (the gate refuses a segment): segment deleted, worker killed, [`WorkerError::Vetoed`];
//! - cancel ([`JobHandle::cancel`]): killed at once, [`WorkerError::Cancelled`].
//!
//! Every path waits for the child, so no zombie is left. Only I/O happens on the runtime;
//! decoding runs in the child.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{watch, Mutex, Notify};
use tokio::task::JoinHandle;

use super::lifeline::LIFELINE_ENV;
use super::protocol::WorkerEvent;
use crate::hls::{publish_segment, SegmentGate};
use crate::spec::{HardwarePreference, JobSpec};
use crate::worker::error::{Result, WorkerError};

/// How to start a worker process.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    /// The executable (the `ha-transcode-worker` binary, or the host binary itself).
    pub program: PathBuf,
    /// Arguments (e.g. a `--transcode-worker` flag for a re-executed host).
    pub args: Vec<OsString>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
}

impl WorkerCommand {
    /// Runs `program` with no arguments.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Re-executes the current binary with `args` (which must make it call
    /// [`run_worker_main`](super::run_worker_main)).
    ///
    /// # Errors
    /// [`WorkerError::CurrentExe`] when the current executable cannot be found.
    pub fn current_exe(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Self> {
        let program = std::env::current_exe().map_err(WorkerError::CurrentExe)?;
        Ok(Self {
            program,
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
        })
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// Supervisor settings.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// How to start a worker.
    pub worker: WorkerCommand,
    /// A worker that reports nothing for this long is killed as hung. Must exceed the time to
    /// produce one segment (plus start-up) on a loaded node.
    pub stall_timeout: Duration,
}

impl SupervisorConfig {
    /// Settings with a 60 s stall timeout.
    pub fn new(worker: WorkerCommand) -> Self {
        Self {
            worker,
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// What a successful run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobSummary {
    /// Segments published, in order.
    pub published: Vec<u32>,
    /// The encoder family the worker ended up using.
    pub hardware: Option<HardwarePreference>,
    /// Why QSV was not used, when it was asked for and fell back.
    pub fallback: Option<String>,
    /// Output frame size.
    pub size: Option<(u32, u32)>,
}

/// Starts and supervises worker processes.
#[derive(Debug, Clone)]
pub struct Supervisor {
    config: Arc<SupervisorConfig>,
}

/// A running job: cancel it, watch its progress, wait for its outcome.
#[derive(Debug)]
pub struct JobHandle {
    pid: Option<u32>,
    cancel: Arc<Notify>,
    progress: watch::Receiver<Option<u32>>,
    task: JoinHandle<Result<JobSummary>>,
}

impl JobHandle {
    /// The worker's process id (for logs and for checking it was reaped).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Kills the worker at once; [`wait`](Self::wait) then returns [`WorkerError::Cancelled`].
    pub fn cancel(&self) {
        self.cancel.notify_one();
    }

    /// A clonable way to cancel from elsewhere (e.g. a lease-loss watcher).
    pub fn canceller(&self) -> Arc<Notify> {
        Arc::clone(&self.cancel)
    }

    /// The last published segment, updated as segments are published.
    pub fn progress(&self) -> watch::Receiver<Option<u32>> {
        self.progress.clone()
    }

    /// Waits for the run to end.
    ///
    /// # Errors
    /// The job failure: crash, stall, veto, cancel, or the worker's own error.
    pub async fn wait(self) -> Result<JobSummary> {
        match self.task.await {
            Ok(r) => r,
            Err(source) => Err(WorkerError::Join {
                what: "supervising a transcode worker".into(),
                source,
            }),
        }
    }
}

impl Supervisor {
    /// A supervisor with `config`.
    pub fn new(config: SupervisorConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// Starts a worker for `spec`; each finished segment goes through `gate`.
    ///
    /// # Errors
    /// [`WorkerError::WorkerSpawn`] when the worker cannot be started.
    pub fn spawn(&self, spec: JobSpec, gate: Arc<dyn SegmentGate>) -> Result<JobHandle> {
        let cfg = &self.config.worker;
        let mut cmd = Command::new(&cfg.program);
        cmd.args(&cfg.args)
            .envs(cfg.env.iter().map(|(k, v)| (k, v)))
            .env(LIFELINE_ENV, "stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|source| WorkerError::WorkerSpawn {
            program: cfg.program.clone(),
            source,
        })?;
        let pid = child.id();
        let cancel = Arc::new(Notify::new());
        let (tx, progress) = watch::channel(None);
        let task = tokio::spawn(drive(
            child,
            spec,
            gate,
            self.config.stall_timeout,
            Arc::clone(&cancel),
            tx,
        ));
        Ok(JobHandle {
            pid,
            cancel,
            progress,
            task,
        })
    }

    /// Spawns and waits: [`spawn`](Self::spawn) then [`JobHandle::wait`].
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`JobHandle::wait`].
    pub async fn run(&self, spec: JobSpec, gate: Arc<dyn SegmentGate>) -> Result<JobSummary> {
        self.spawn(spec, gate)?.wait().await
    }
}

const STDERR_TAIL: usize = 4096;

async fn drive(
    mut child: Child,
    spec: JobSpec,
    gate: Arc<dyn SegmentGate>,
    stall: Duration,
    cancel: Arc<Notify>,
    progress: watch::Sender<Option<u32>>,
) -> Result<JobSummary> {
    // Hand over the spec and keep stdin open until the worker is reaped: its end of file is
    // the worker's signal that this server died (see `super::lifeline`).
    let mut lifeline = child.stdin.take();
    if let Some(stdin) = lifeline.as_mut() {
        let json = serde_json::to_string(&spec).map_err(|source| WorkerError::WorkerProtocol {
            line: String::new(),
            source,
        })?;
        // A worker that died at once shows up below as a crash; ignore the broken pipe here.
        let _ = stdin.write_all(json.as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
        let _ = stdin.flush().await;
    }
    let tail = Arc::new(Mutex::new(Vec::<u8>::new()));
    let stderr_task = child.stderr.take().map(|mut err| {
        let tail = Arc::clone(&tail);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().await;
                t.extend_from_slice(&buf[..n]);
                let excess = t.len().saturating_sub(STDERR_TAIL);
                t.drain(..excess);
            }
        })
    });
    let Some(stdout) = child.stdout.take() else {
        kill(&mut child).await;
        return Err(WorkerError::WorkerFailed {
            message: "worker stdout unavailable".into(),
        });
    };
    let mut lines = BufReader::new(stdout).lines();
    let mut summary = JobSummary::default();
    let mut done = false;
    let mut reported_error: Option<String> = None;

    let outcome: Result<()> = loop {
        let line = tokio::select! {
            _ = cancel.notified() => break Err(WorkerError::Cancelled),
            r = tokio::time::timeout(stall, lines.next_line()) => r,
        };
        let line = match line {
            Err(_) => break Err(WorkerError::WorkerStalled { after: stall }),
            Ok(Err(e)) => break Err(WorkerError::WorkerReports(e)),
            Ok(Ok(None)) => break Ok(()),
            Ok(Ok(Some(line))) => line,
        };
        if !line.trim_start().starts_with('{') {
            tracing::debug!(%line, "non-report output from the transcode worker");
            continue;
        }
        let event: WorkerEvent = match serde_json::from_str(&line) {
            Ok(ev) => ev,
            Err(source) => break Err(WorkerError::WorkerProtocol { line, source }),
        };
        match event {
            WorkerEvent::Started {
                width,
                height,
                hardware,
                ..
            } => {
                summary.size = Some((width, height));
                summary.hardware = Some(hardware);
            }
            WorkerEvent::Fallback { reason } => {
                tracing::warn!(%reason, "QSV unavailable for this job; using software");
                summary.fallback = Some(reason);
                summary.hardware = Some(HardwarePreference::Software);
            }
            WorkerEvent::Segment(report) => {
                // The veto lives here, in the server process.
                let publish = tokio::select! {
                    _ = cancel.notified() => break Err(WorkerError::Cancelled),
                    r = publish_segment(gate.as_ref(), &spec.output_dir, &report) => r,
                };
                match publish {
                    Ok(_) => {
                        summary.published.push(report.index);
                        let _ = progress.send(Some(report.index));
                    }
                    Err(e) => break Err(e),
                }
            }
            WorkerEvent::Done { .. } => done = true,
            WorkerEvent::Error { message } => reported_error = Some(message),
        }
    };

    let result = match outcome {
        Err(e) => {
            kill(&mut child).await;
            Err(e)
        }
        Ok(()) => {
            // stdout closed: the worker is exiting (or crashed). Do not wait forever.
            let status = match tokio::time::timeout(stall, child.wait()).await {
                Ok(Ok(status)) => Ok(status),
                Ok(Err(e)) => Err(WorkerError::WorkerWait(e)),
                Err(_) => {
                    kill(&mut child).await;
                    Err(WorkerError::WorkerStalled { after: stall })
                }
            };
            match status {
                Err(e) => Err(e),
                Ok(status) if status.success() && done => Ok(summary),
                Ok(status) => match reported_error {
                    Some(message) => Err(WorkerError::WorkerFailed { message }),
                    None => {
                        if let Some(t) = stderr_task {
                            let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
                        }
                        let stderr_tail = String::from_utf8_lossy(&tail.lock().await).into_owned();
                        Err(WorkerError::WorkerCrashed {
                            status: describe(status),
                            stderr_tail,
                        })
                    }
                },
            }
        }
    };
    drop(lifeline);
    result
}

/// Kills the child and reaps it (no zombie).
async fn kill(child: &mut Child) {
    if let Err(e) = child.kill().await {
        tracing::debug!("killing the transcode worker: {e}");
    }
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}
