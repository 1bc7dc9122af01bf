//! `clambot gateway`: Telegram, the cron scheduler and the heartbeat, until
//! SIGINT or SIGTERM (see `clambot::gateway` for the lifecycle).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use clambot::agent::config::ConfigFile;
use clambot::agent::setup::{self, Choices};
use clambot::agent::turn::Turns;
use clambot::gateway::approver::APPROVAL_TIMEOUT;
use clambot::gateway::config::{Access, DEFAULT_API_URL};
use clambot::gateway::heartbeat::Heartbeat;
use clambot::gateway::scheduler::{Scheduler, SystemClock};
use clambot::gateway::telegram::api::BotApi;
use clambot::gateway::telegram::bot::Bot;
use clambot::gateway::{Deliver, LogDelivery, TelegramDelivery, drain};
use clambot::home::Home;
use clambot::state::HostState;
use clambot::store::cron::CronJobs;

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// The policy every host call is checked against
    /// [default: [agent] policy in config.toml, else $CLAMBOT_HOME/policy.toml].
    #[arg(long, value_name = "FILE", env = "CLAMBOT_POLICY")]
    policy: Option<PathBuf>,
}

/// How often the scheduler looks for due jobs: a job fires within this of its
/// time, including one another process (`clambot cron add`) has just stored.
/// A look is one query over at most `MAX_JOBS` rows.
const SCHEDULER_TICK: Duration = Duration::from_secs(1);
/// How often answers kept in the outbox are retried.
const OUTBOX_FLUSH: Duration = Duration::from_secs(30);

pub fn run(args: GatewayArgs) -> Result<ExitCode> {
    let home = Home::from_env()?;
    let config = ConfigFile::load(&setup::config_file(&home))?;
    let (agent, notices) = setup::open_agent(
        home.clone(),
        &Choices {
            policy: args.policy.clone(),
        },
        setup::wit_api_text(),
    )?;
    for notice in notices {
        clambot::gateway_log!("{notice}");
    }
    let agent = Arc::new(agent);
    let turns: Arc<dyn Turns> = Arc::clone(&agent) as Arc<dyn Turns>;
    let state = HostState::open(home)?;
    let grace = config
        .gateway
        .clone()
        .unwrap_or_default()
        .shutdown_grace()?;
    let heartbeat_every = config.heartbeat.as_ref().map(|h| h.every()).transpose()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let stop = CancellationToken::new();
        let cancel_turns = CancellationToken::new();
        let in_flight = TaskTracker::new();
        let services = TaskTracker::new();

        let deliver: Arc<dyn Deliver> = match &config.telegram {
            Some(telegram) => {
                let token = state.secrets.get(&telegram.token_secret)?.with_context(|| {
                    format!(
                        "[telegram] token-secret names {:?}, which is not set: \
                         run `clambot secrets set {}` with the token from @BotFather",
                        telegram.token_secret, telegram.token_secret
                    )
                })?;
                let access = Access::new(&telegram.allow_from);
                if access.is_empty() {
                    bail!("[telegram] allow-from is empty: nobody could talk to the bot; add your user id or @username");
                }
                let api = BotApi::new(
                    telegram.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
                    token.expose(),
                )?;
                let bot = Arc::new(Bot::new(
                    api.clone(),
                    Arc::clone(&turns),
                    state.clone(),
                    access,
                    telegram.owner_user(),
                    telegram.upload_max()?,
                    APPROVAL_TIMEOUT,
                    in_flight.clone(),
                    cancel_turns.clone(),
                ));
                let delivery = bot.delivery.clone();
                services.spawn(bot.run(stop.clone()));
                // What the outbox holds (from before a restart, or kept while
                // Telegram was down) is retried in the background.
                services.spawn(delivery.clone().run(OUTBOX_FLUSH, stop.clone()));
                clambot::gateway_log!("Telegram polling");
                Arc::new(TelegramDelivery {
                    delivery,
                    owner_chat: telegram.owner_chat(),
                })
            }
            None => {
                clambot::gateway_log!("no [telegram] in config.toml; results go to this log");
                Arc::new(LogDelivery)
            }
        };

        let scheduler = Scheduler {
            jobs: CronJobs::new(Arc::clone(&state.store)),
            turns: Arc::clone(&turns),
            deliver: Arc::clone(&deliver),
            clock: Arc::new(SystemClock),
            cancel: cancel_turns.clone(),
        };
        {
            let (stop, in_flight) = (stop.clone(), in_flight.clone());
            // Jobs count as in-flight work, so shutdown waits for them too.
            services.spawn(async move {
                in_flight
                    .track_future(scheduler.run(SCHEDULER_TICK, stop))
                    .await
            });
            clambot::gateway_log!(
                "cron scheduler looking for due jobs every {}",
                humantime::format_duration(SCHEDULER_TICK)
            );
        }
        if let Some(every) = heartbeat_every {
            let heartbeat = Heartbeat {
                workspace: state.workspace.clone(),
                turns: Arc::clone(&turns),
                deliver: Arc::clone(&deliver),
                cancel: cancel_turns.clone(),
            };
            let (stop, in_flight) = (stop.clone(), in_flight.clone());
            services.spawn(async move { in_flight.track_future(heartbeat.run(every, stop)).await });
            clambot::gateway_log!("heartbeat every {}", humantime::format_duration(every));
        }

        wait_for_signal().await;
        clambot::gateway_log!("stopping; in-flight turns have {} to finish",
            humantime::format_duration(grace)
        );
        stop.cancel();
        drain(&in_flight, &cancel_turns, grace).await;
        services.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), services.wait()).await;
        agent.wait_background().await;
        clambot::gateway_log!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGINT or SIGTERM.
async fn wait_for_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
