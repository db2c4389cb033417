//! The broker layer against a real RabbitMQ (never mocked). Every test uses fresh
//! queue and exchange names and deletes them at the end.

use std::time::Duration;

use common::amqp::{Fixture, force_close_connection, stop};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, ExchangeKind};
use leadrouter::broker::{
    AckReport, BrokerSettings, Consumer, ERROR_HEADER, InboundDelivery, OutboundEvent, Settled,
    publish::publish_lines,
};
use leadrouter::config::{Config, SecretUrl};

const WAIT: Duration = Duration::from_secs(10);

fn bodies(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{{\"id\":\"{prefix}{i}\"}}"))
        .collect()
}

/// Collects exactly `n` deliveries (failing after 10 s), batch sizes included.
async fn take(consumer: &mut Consumer, n: usize, max: usize) -> (Vec<InboundDelivery>, Vec<usize>) {
    let mut all = Vec::new();
    let mut sizes = Vec::new();
    while all.len() < n {
        let batch = tokio::time::timeout(WAIT, consumer.next_batch(max, Duration::from_millis(50)))
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} deliveries arrived within 10 s", all.len()));
        assert!(!batch.is_empty(), "consumer ended early");
        sizes.push(batch.len());
        all.extend(batch);
    }
    (all, sizes)
}

fn text(d: &InboundDelivery) -> String {
    String::from_utf8_lossy(&d.body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_is_declared_durable() {
    let fx = Fixture::new().await;
    let (broker, _consumer, cancel) = fx.start(8).await;
    // Redeclaring with different properties fails with 406 only if the entity exists
    // with the ones we expect (durable queues; a durable topic exchange).
    for queue in [&fx.names.inbound, &fx.names.dead_letter] {
        let ch = fx.conn.create_channel().await.expect("channel");
        let transient = ch
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await;
        assert!(
            transient.is_err(),
            "queue {queue} should exist and be durable"
        );
        let ch = fx.conn.create_channel().await.expect("channel");
        ch.queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("same declaration is idempotent");
    }
    let exchange = fx.names.events_exchange.as_str();
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let ch = fx.conn.create_channel().await.expect("channel");
    ch.exchange_declare(
        exchange.into(),
        ExchangeKind::Topic,
        durable,
        FieldTable::default(),
    )
    .await
    .expect("durable topic exchange exists");
    let ch = fx.conn.create_channel().await.expect("channel");
    let direct = ch
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await;
    assert!(direct.is_err(), "exchange should be a topic exchange");
    let ch = fx.conn.create_channel().await.expect("channel");
    let transient = ch
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert!(transient.is_err(), "exchange should be durable");
    stop(&broker, &cancel).await;
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_form_from_the_prefetch_window() {
    let fx = Fixture::new().await;
    let (broker, mut consumer, cancel) = fx.start(10).await;
    let sent = bodies("b", 30);
    fx.publish_all(&fx.names.inbound, &sent).await;
    // Let the prefetch window fill so the first batch has more than one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acker = broker.acker();
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    while got.len() < sent.len() {
        let (batch, _) = take(&mut consumer, 1, 100).await;
        sizes.push(batch.len());
        let report = acker.ack(&batch).await.expect("ack");
        assert_eq!(
            report,
            AckReport {
                settled: batch.len(),
                stale: 0
            }
        );
        got.extend(batch.iter().map(text));
    }
    assert_eq!(got, sent, "all messages, in order");
    assert!(
        sizes[0] > 1,
        "first batch should hold several deliveries: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|&n| n <= 10),
        "a batch never exceeds the prefetch window: {sizes:?}"
    );
    stop(&broker, &cancel).await;
    assert_eq!(
        fx.ready(&fx.names.inbound).await,
        0,
        "acked messages do not come back"
    );
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_up_to_and_single_acks_unacked_come_back() {
    let fx = Fixture::new().await;
    let (broker, mut consumer, cancel) = fx.start(20).await;
    let sent = bodies("a", 10);
    fx.publish_all(&fx.names.inbound, &sent).await;
    let (got, _) = take(&mut consumer, 10, 20).await;
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), sent);
    let acker = broker.acker();
    // Multiple ack for the first four, then a single one behind a gap.
    assert_eq!(
        acker
            .ack_up_to(got[3].generation, got[3].delivery_tag)
            .await
            .expect("ack_up_to"),
        Settled::Done
    );
    assert_eq!(acker.ack_one(&got[7]).await.expect("ack"), Settled::Done);
    // Acking again is harmless (no double ack reaches the broker).
    assert_eq!(
        acker.ack(&got[..2]).await.expect("re-ack"),
        AckReport {
            settled: 0,
            stale: 0
        }
    );
    // Closing the channel (by stopping) returns the five unacked ones.
    stop(&broker, &cancel).await;
    assert_eq!(fx.ready(&fx.names.inbound).await, 5);
    let mut back = Vec::new();
    while let Some(m) = fx.get(&fx.names.inbound).await {
        assert!(
            m.delivery.redelivered,
            "returned messages are marked redelivered"
        );
        back.push(String::from_utf8_lossy(&m.delivery.data).into_owned());
    }
    let expected: Vec<String> = [4, 5, 6, 8, 9].iter().map(|&i| sent[i].clone()).collect();
    assert_eq!(back, expected);
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_gives_deliveries_back() {
    let fx = Fixture::new().await;
    let (broker, mut consumer, cancel) = fx.start(20).await;
    fx.publish_all(&fx.names.inbound, &bodies("r", 3)).await;
    let (first, _) = take(&mut consumer, 3, 20).await;
    assert!(first.iter().all(|d| !d.redelivered));
    let report = broker.acker().requeue(&first).await.expect("requeue");
    assert_eq!(report.settled, 3);
    let (again, _) = take(&mut consumer, 3, 20).await;
    assert!(
        again.iter().all(|d| d.redelivered),
        "requeued deliveries come back redelivered"
    );
    broker.acker().ack(&again).await.expect("ack");
    stop(&broker, &cancel).await;
    assert_eq!(fx.ready(&fx.names.inbound).await, 0);
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_keeps_body_and_adds_header() {
    let fx = Fixture::new().await;
    let (broker, mut consumer, cancel) = fx.start(8).await;
    let body: &[u8] = b"\xff\xfe not json \x00 {\"id\":";
    let props = BasicProperties::default()
        .with_message_id("pub-1".into())
        .with_content_type("application/json".into());
    fx.publish(&fx.names.inbound, body, props).await;
    let (got, _) = take(&mut consumer, 1, 8).await;
    assert_eq!(got[0].message_id(), Some("pub-1"));
    let reason =
        "invalid_utf8: message is not valid UTF-8: invalid utf-8 sequence of 1 bytes from index 0";
    assert_eq!(
        broker
            .acker()
            .dead_letter(&got[0], reason)
            .await
            .expect("dead_letter"),
        Settled::Done
    );

    let dead = fx
        .get(&fx.names.dead_letter)
        .await
        .expect("message on the dead-letter queue");
    assert_eq!(dead.delivery.data, body, "body unchanged");
    let headers = dead.delivery.properties.headers().clone().expect("headers");
    assert_eq!(
        headers.inner().get(ERROR_HEADER),
        Some(&AMQPValue::LongString(LongString::from(reason)))
    );
    assert_eq!(
        dead.delivery.properties.delivery_mode(),
        &Some(2),
        "persistent"
    );
    assert_eq!(
        dead.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str()),
        Some("pub-1")
    );
    assert!(fx.get(&fx.names.dead_letter).await.is_none());

    stop(&broker, &cancel).await;
    assert_eq!(
        fx.ready(&fx.names.inbound).await,
        0,
        "original was acked after the confirm"
    );
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_batch_routes_and_returns_confirmed_ids() {
    let mut fx = Fixture::new().await;
    let (broker, _consumer, cancel) = fx.start(8).await;
    let sink = format!("{}.sink", fx.names.inbound);
    fx.extra_queues.push(sink.clone());
    fx.channel
        .queue_declare(
            sink.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("declare sink");
    fx.channel
        .queue_bind(
            sink.as_str().into(),
            fx.names.events_exchange.as_str().into(),
            "lead.*".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind sink");
    let events: Vec<OutboundEvent> = ["lead.assigned", "lead.queued", "other.unrouted"]
        .iter()
        .map(|key| OutboundEvent {
            event_id: uuid::Uuid::new_v4(),
            routing_key: (*key).to_owned(),
            body: format!("{{\"key\":\"{key}\"}}").into_bytes(),
        })
        .collect();
    let confirmed = broker
        .event_publisher()
        .publish_batch(&events)
        .await
        .expect("publish_batch");
    let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(
        confirmed, ids,
        "all confirmed (an unrouted event is still confirmed)"
    );

    for event in &events[..2] {
        let m = fx.get(&sink).await.expect("event reached the bound queue");
        assert_eq!(m.delivery.routing_key.as_str(), event.routing_key);
        assert_eq!(m.delivery.data, event.body);
        let p = &m.delivery.properties;
        assert_eq!(p.delivery_mode(), &Some(2));
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(
            p.message_id().as_ref().map(|s| s.as_str()),
            Some(event.event_id.to_string().as_str())
        );
    }
    assert!(
        fx.get(&sink).await.is_none(),
        "other.unrouted does not match lead.*"
    );
    assert!(
        broker
            .event_publisher()
            .publish_batch(&[])
            .await
            .expect("empty batch")
            .is_empty()
    );
    stop(&broker, &cancel).await;
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_forced_close_and_skips_stale_acks() {
    let fx = Fixture::new().await;
    let (broker, mut consumer, cancel) = fx.start(8).await;
    let generation = broker.generation().expect("up");
    fx.publish_all(&fx.names.inbound, &bodies("x", 1)).await;
    let (held, _) = take(&mut consumer, 1, 8).await;
    assert_eq!(held[0].generation, generation);

    // Record every health value from now on.
    let mut health = broker.health();
    assert!(*health.borrow());
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while health.changed().await.is_ok() {
            let up = *health.borrow_and_update();
            seen.push(up);
            if up {
                break;
            }
        }
        seen
    });
    assert_eq!(
        force_close_connection(broker.connection_name()),
        1,
        "exactly our connection was closed"
    );
    let seen = tokio::time::timeout(Duration::from_secs(20), seen)
        .await
        .expect("health came back")
        .expect("task");
    assert_eq!(seen, vec![false, true], "broker_up went down, then up");
    let new_generation = broker.generation().expect("up again");
    assert!(new_generation > generation);

    // The held delivery's tag belongs to the dead channel: nothing is sent for it.
    let acker = broker.acker();
    assert_eq!(
        acker.ack(&held).await.expect("stale ack"),
        AckReport {
            settled: 0,
            stale: 1
        }
    );
    assert_eq!(
        acker
            .dead_letter(&held[0], "x")
            .await
            .expect("stale dead letter"),
        Settled::Stale
    );
    // The broker redelivers it on the new connection, and consuming goes on.
    let (again, _) = take(&mut consumer, 1, 8).await;
    assert_eq!(again[0].body, held[0].body);
    assert!(again[0].redelivered);
    assert_eq!(again[0].generation, new_generation);
    fx.publish_all(&fx.names.inbound, &bodies("y", 2)).await;
    let (more, _) = take(&mut consumer, 2, 8).await;
    assert_eq!(more.iter().map(text).collect::<Vec<_>>(), bodies("y", 2));
    let report = acker
        .ack(&[again, more].concat())
        .await
        .expect("ack on new channel");
    assert_eq!(
        report,
        AckReport {
            settled: 3,
            stale: 0
        }
    );

    stop(&broker, &cancel).await;
    assert_eq!(fx.ready(&fx.names.inbound).await, 0);
    assert_eq!(
        fx.ready(&fx.names.dead_letter).await,
        0,
        "stale dead letter was not published"
    );
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_consuming_hands_over_what_was_received_then_ends() {
    let fx = Fixture::new().await;
    let (broker, mut consumer, cancel) = fx.start(50).await;
    fx.publish_all(&fx.names.inbound, &bodies("s", 5)).await;
    let (first, _) = take(&mut consumer, 1, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    broker.stop_consuming().await;
    let mut held = first;
    loop {
        let batch = tokio::time::timeout(WAIT, consumer.next_batch(50, Duration::ZERO))
            .await
            .expect("no hang");
        if batch.is_empty() {
            break;
        }
        held.extend(batch);
    }
    assert_eq!(
        held.len(),
        5,
        "everything prefetched is handed over before the end"
    );
    // Still connected: acks after stop_consuming work.
    assert_eq!(broker.acker().ack(&held).await.expect("ack").settled, 5);
    fx.publish_all(&fx.names.inbound, &bodies("late", 1)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fx.ready(&fx.names.inbound).await,
        1,
        "no new deliveries after stop_consuming"
    );
    stop(&broker, &cancel).await;
    assert_eq!(fx.ready(&fx.names.inbound).await, 1);
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_keeps_retrying_until_cancelled() {
    let cancel = tokio_util::sync::CancellationToken::new();
    let settings = BrokerSettings {
        url: SecretUrl::new("amqp://guest:s3cret@127.0.0.1:1/%2f"),
        ..Config::default().broker_settings()
    };
    assert!(!format!("{settings:?}").contains("s3cret"));
    let (broker, mut consumer) = leadrouter::broker::start(settings, cancel.clone());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!broker.is_up());
    assert!(matches!(
        broker.event_publisher().publish_batch(&[]).await,
        Err(leadrouter::broker::BrokerError::Unavailable)
    ));
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), broker.closed())
        .await
        .expect("supervisor stops on cancel");
    let batch = tokio::time::timeout(
        Duration::from_secs(5),
        consumer.next_batch(10, Duration::ZERO),
    )
    .await;
    assert!(
        matches!(batch, Ok(b) if b.is_empty()),
        "consumer ends after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_lines_sends_raw_lines_with_confirms() {
    let fx = Fixture::new().await;
    let settings = common::amqp::settings(&fx.names, 8);
    let input: &[u8] = b"{\"id\":\"1\"}\n\n{\"id\":\"2\"}\r\n\xff raw\n   \n{\"id\":\"3\"}";
    let summary = publish_lines(&settings, input)
        .await
        .expect("publish_lines");
    assert_eq!((summary.published, summary.blank), (4, 2));
    let mut got = Vec::new();
    while let Some(m) = fx.get(&fx.names.inbound).await {
        assert_eq!(m.delivery.properties.delivery_mode(), &Some(2));
        got.push(m.delivery.data);
    }
    let expected: Vec<&[u8]> = vec![
        b"{\"id\":\"1\"}",
        b"{\"id\":\"2\"}",
        b"\xff raw",
        b"{\"id\":\"3\"}",
    ];
    assert_eq!(got, expected);
    fx.cleanup().await;
}
