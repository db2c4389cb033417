//! A RabbitMQ cluster of the test's own: nodes as [`PrivateRabbit`](super::PrivateRabbit)'s,
//! sharing one cookie, started together and clustered with `rabbitmqctl join_cluster`
//! (as an operator would), for the tests that lose a node under quorum queues.
use super::ServerDir;
use super::rabbit::{BOOT_TIMEOUT, RabbitNode, short_id, write_cookie};
use futures_util::future::join_all;
use std::time::Instant;

/// Nodes `lrtest-<id>-1@localhost` … `-<n>`. Dropping it kills every node and removes
/// the directory.
pub struct PrivateRabbitCluster {
    nodes: Vec<RabbitNode>,
    _dir: ServerDir,
}

impl PrivateRabbitCluster {
    /// Boots `n` nodes at once, then joins the second and later ones to the first
    /// (`stop_app`, `join_cluster`, `start_app`, one node at a time), and checks that the
    /// first sees all `n` running. Fails the test with the reason if any step fails.
    pub async fn start(n: usize) -> PrivateRabbitCluster {
        assert!(n >= 1, "a cluster has a node");
        let began = Instant::now();
        let user = super::RunAs::for_server("rabbitmq");
        let dir = ServerDir::new("rabbit-cluster", user.as_ref());
        let home = dir.subdir("home", user.as_ref());
        write_cookie(&home, user.as_ref());
        let id = short_id();
        let mut nodes: Vec<RabbitNode> = (1..=n)
            .map(|i| {
                let name = format!("lrtest-{id}-{i}@localhost");
                RabbitNode::prepare(&dir, &format!("node{i}"), name, &home, user.as_ref())
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        join_all(nodes.iter_mut().map(|node| node.wait_ready(BOOT_TIMEOUT))).await;
        let booted = began.elapsed();
        let seed = nodes[0].name.clone();
        for node in &mut nodes[1..] {
            node.stop_app().await;
            node.ctl_ok(&["join_cluster", &seed]).await;
            node.start_app().await;
        }
        let cluster = PrivateRabbitCluster { nodes, _dir: dir };
        let running = cluster.running_nodes().await;
        let all: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        assert!(
            all.iter().all(|name| running.contains(name)),
            "after joining, {seed} sees {running:?} running, not all of {all:?}"
        );
        eprintln!(
            "private RabbitMQ cluster of {n} ({}) booted in {:.1} s, clustered in {:.1} s",
            all.join(", "),
            booted.as_secs_f64(),
            began.elapsed().as_secs_f64()
        );
        cluster
    }

    /// The temporary directory holding every node's data and logs (removed on drop).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node's AMQP URL, in node order (what a client's `amqp.url` list holds).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RabbitNode::url).collect()
    }

    pub fn url(&self, node: usize) -> String {
        self.nodes[node].url()
    }

    pub fn node_name(&self, node: usize) -> &str {
        &self.nodes[node].name
    }

    /// The index of the node called `name` (as [`leader_of`](Self::leader_of) says it).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Whether node `node`'s process runs.
    pub fn is_running(&mut self, node: usize) -> bool {
        self.nodes[node].is_running()
    }

    /// `rabbitmqctl -n NODE args…` on node `node`; fails the test if the command fails.
    pub async fn ctl(&self, node: usize, args: &[&str]) -> String {
        self.nodes[node].ctl_ok(args).await
    }

    /// `rabbitmqctl stop` on node `node`: it shuts down (the others carry on); returns
    /// once its process has exited.
    pub async fn stop_node(&mut self, node: usize) {
        self.nodes[node].stop().await;
    }

    /// SIGKILL to node `node`'s processes.
    pub fn kill_node(&mut self, node: usize) {
        self.nodes[node].kill();
    }

    /// Starts node `node` again after a stop or kill: it rejoins the cluster by itself
    /// (it remembers its peers); returns once it accepts AMQP connections.
    pub async fn start_node(&mut self, node: usize) {
        self.nodes[node].spawn();
        self.nodes[node].wait_ready(BOOT_TIMEOUT).await;
    }

    /// `rabbitmqctl stop_app` on node `node` (its process stays up).
    pub async fn stop_app(&self, node: usize) {
        self.nodes[node].stop_app().await;
    }

    /// `rabbitmqctl start_app` on node `node`, then waits for AMQP.
    pub async fn start_app(&mut self, node: usize) {
        self.nodes[node].start_app().await;
    }

    /// The node holding the leader of quorum queue `queue` (in vhost `/`), asked of the
    /// first node that answers.
    pub async fn leader_of(&self, queue: &str) -> String {
        let listing = self
            .ask_any(&[
                "list_queues",
                "name",
                "leader",
                "--quiet",
                "--no-table-headers",
            ])
            .await;
        listing
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(name, _)| *name == queue)
            .map(|(_, leader)| leader.trim().to_owned())
            .unwrap_or_else(|| panic!("no queue {queue} in the cluster:\n{listing}"))
    }

    /// The nodes the cluster reports running, asked of the first node that answers.
    pub async fn running_nodes(&self) -> Vec<String> {
        let status = self
            .ask_any(&["cluster_status", "--formatter", "json"])
            .await;
        let json: serde_json::Value = serde_json::from_str(&status)
            .unwrap_or_else(|e| panic!("cluster_status is not JSON ({e}): {status}"));
        json["running_nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("no running_nodes in {status}"))
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect()
    }

    /// `rabbitmqctl args…` on each running node in turn until one succeeds.
    async fn ask_any(&self, args: &[&str]) -> String {
        let mut errors = Vec::new();
        for node in &self.nodes {
            match node.ctl(args).await {
                Ok(out) => return out,
                Err(e) => errors.push(e),
            }
        }
        panic!("no node answered:\n{}", errors.join("\n"));
    }
}
