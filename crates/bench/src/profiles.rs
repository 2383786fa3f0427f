//! The request profiles, against any HTTP target that speaks the order API.

use std::sync::Arc;

use anyhow::Context as _;
use futures::{FutureExt, StreamExt};
use rand::Rng;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::fixtures;
use crate::load::{Op, Turn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// `POST /v1/orders`
    Create,
    /// `GET /v1/orders/{id}` of a random existing order
    Get,
    /// `GET /v1/orders?limit=50`
    List,
    /// `PATCH /v1/orders/{id}` (notes) of an order only this worker touches
    Patch,
    /// 60% get, 10% list (reads); 20% patch, 10% create (writes)
    Mix,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Get => "get",
            Self::List => "list",
            Self::Patch => "patch",
            Self::Mix => "mix",
        }
    }

    /// What one call of a mix does, for a uniform draw in 0..100.
    pub fn of_mix(draw: u32) -> Profile {
        match draw {
            0..60 => Self::Get,
            60..70 => Self::List,
            70..90 => Self::Patch,
            _ => Self::Create,
        }
    }
}

/// The HTTP client of every benchmark: keep-alive, one connection per concurrent worker.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .timeout(std::time::Duration::from_secs(60))
        .build()?)
}

/// An order API and the orders it holds.
#[derive(Clone)]
pub struct OrderApi {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    /// Existing orders of [`fixtures::CUSTOMER`].
    pub ids: Arc<Vec<Uuid>>,
    pub concurrency: usize,
}

/// The order a worker patches at its `call`-th turn: workers own disjoint slices of `ids`,
/// so patches never race each other into a retry.
pub fn owned_id(ids: &[Uuid], concurrency: usize, turn: Turn) -> Uuid {
    let per_worker = (ids.len() / concurrency.max(1)).max(1);
    let slot = (turn.call as usize) % per_worker;
    ids[(turn.worker + slot * concurrency) % ids.len()]
}

pub fn random_id(ids: &[Uuid]) -> Uuid {
    ids[rand::thread_rng().gen_range(0..ids.len())]
}

impl OrderApi {
    pub async fn create(&self) -> anyhow::Result<Uuid> {
        let response = self
            .http
            .post(format!("{}/v1/orders", self.base))
            .bearer_auth(&self.token)
            .json(&fixtures::order_input())
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        if status != StatusCode::CREATED {
            anyhow::bail!(
                "create answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let order: serde_json::Value = serde_json::from_slice(&body)?;
        order["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .context("the created order has no id")
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        expect: StatusCode,
    ) -> anyhow::Result<()> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if status != expect {
            anyhow::bail!("answered {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(())
    }

    pub async fn one(&self, profile: Profile, turn: Turn) -> anyhow::Result<()> {
        let profile = match profile {
            Profile::Mix => Profile::of_mix(rand::thread_rng().gen_range(0..100)),
            single => single,
        };
        match profile {
            Profile::Create => self.create().await.map(drop),
            Profile::Get => {
                let id = random_id(&self.ids);
                let url = format!("{}/v1/orders/{id}", self.base);
                self.call(self.http.get(url), StatusCode::OK).await
            }
            Profile::List => {
                let url = format!("{}/v1/orders?limit=50", self.base);
                self.call(self.http.get(url), StatusCode::OK).await
            }
            Profile::Patch => {
                let id = owned_id(&self.ids, self.concurrency, turn);
                let request = self
                    .http
                    .patch(format!("{}/v1/orders/{id}", self.base))
                    .header("content-type", "application/merge-patch+json")
                    .body(format!(
                        r#"{{"notes":"bench {} {}"}}"#,
                        turn.worker, turn.call
                    ));
                self.call(request, StatusCode::OK).await
            }
            Profile::Mix => unreachable!("a mix resolves to one of the other profiles"),
        }
    }

    /// The ops of `concurrency` workers (patches split the orders among them).
    pub fn op(&self, profile: Profile, concurrency: usize) -> Op {
        let api = Self {
            concurrency,
            ..self.clone()
        };
        Arc::new(move |turn| {
            let api = api.clone();
            async move { api.one(profile, turn).await }.boxed()
        })
    }

    /// Creates `n` orders, `parallel` at a time, and remembers their ids.
    pub async fn seed(&mut self, n: usize, parallel: usize) -> anyhow::Result<()> {
        let mut ids = Vec::with_capacity(n);
        let mut pending =
            futures::stream::iter((0..n).map(|_| self.create())).buffer_unordered(parallel.max(1));
        while let Some(id) = pending.next().await {
            ids.push(id.context("seeding orders")?);
        }
        drop(pending);
        self.ids = Arc::new(ids);
        Ok(())
    }
}
