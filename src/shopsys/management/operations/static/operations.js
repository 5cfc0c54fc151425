"use strict";
// The operations page: polls /api/v1/operations, keeps the last few minutes of snapshots and
// plots them with uPlot. Counters in a snapshot are cumulative; rates and latencies are
// computed here from two successive snapshots.
//
// Through a Service, successive polls may reach different consumer replicas. Offsets are
// group-wide, so rates hold across replicas; the write-latency histogram is the answering
// replica's own, so its deltas are taken only between two snapshots of the same replica.
// A snapshot not newer than the last one plotted (a cached or slower replica's) is skipped:
// uPlot needs ascending times.

(() => {
  const POLL_MS = 1000;
  const KEEP = 300; // points per plot: five minutes at one a second
  const HEIGHT = 220;
  const COLORS = { total: "#1d232a", produced: "#2563eb", processed: "#067647", dlq: "#b42318" };

  const series = {
    time: [], lagTotal: [], lagByPartition: new Map(), produced: [], processed: [],
    deadLettered: [], latencyMean: [], latencyP95: [], members: [], webReady: [],
    consumerReady: [],
  };
  const plots = {};
  let previous = null;
  // For tests and the curious: what is plotted, and how many snapshots arrived.
  window.shopsysOps = { plots, series, snapshots: 0 };

  const $ = (id) => document.getElementById(id);

  function partitionColor(index, count) {
    return `hsl(${Math.round((index * 360) / Math.max(count, 1))}, 60%, 50%)`;
  }

  function makePlot(container, yLabel, lines) {
    const options = {
      width: Math.max(280, container.clientWidth),
      height: HEIGHT,
      scales: { x: { time: true } },
      series: [{}, ...lines],
      axes: [{}, { label: yLabel, size: 60 }],
      legend: { live: false },
    };
    const plot = new uPlot(options, [[], ...lines.map(() => [])], container);
    new ResizeObserver(() => {
      plot.setSize({ width: Math.max(280, container.clientWidth), height: HEIGHT });
    }).observe(container);
    return plot;
  }

  function ensurePlots(partitions) {
    const key = partitions.join(",");
    if (!plots.lag || plots.lag.partitionKey !== key) {
      if (plots.lag) plots.lag.destroy();
      $("lag-plot").replaceChildren();
      const lines = [{ label: "total", stroke: COLORS.total, width: 2 }].concat(
        partitions.map((p, i) => ({
          label: `p${p}`, stroke: partitionColor(i, partitions.length), width: 1,
        })),
      );
      plots.lag = makePlot($("lag-plot"), "messages", lines);
      plots.lag.partitionKey = key;
    }
    if (!plots.rates) {
      plots.rates = makePlot($("rates-plot"), "events/s", [
        { label: "produced", stroke: COLORS.produced, width: 2 },
        { label: "processed", stroke: COLORS.processed, width: 2 },
        { label: "dead-lettered", stroke: COLORS.dlq, width: 2 },
      ]);
      plots.latency = makePlot($("latency-plot"), "ms", [
        { label: "mean", stroke: COLORS.processed, width: 2 },
        { label: "p95", stroke: COLORS.dlq, width: 2 },
      ]);
      plots.replicas = makePlot($("replicas-plot"), "pods", [
        { label: "group members", stroke: COLORS.total, width: 2 },
        { label: "web ready", stroke: COLORS.produced, width: 2 },
        { label: "consumer ready", stroke: COLORS.processed, width: 2, dash: [6, 4] },
      ]);
    }
  }

  function showReason(id, part) {
    const element = $(id);
    element.hidden = part.available;
    element.textContent = part.available ? "" : `Unavailable: ${part.reason}`;
  }

  function rate(now, before, field, seconds) {
    if (!now.available || !before || !before.available || seconds <= 0) return null;
    return Math.max(0, (now[field] - before[field]) / seconds);
  }

  // Like PromQL's histogram_quantile over the increase between two snapshots.
  function quantile(q, now, before) {
    const count = now.count - before.count;
    if (count <= 0) return null;
    const target = q * count;
    let lowerBound = 0;
    let lowerCount = 0;
    for (let i = 0; i < now.buckets.length; i += 1) {
      const [bound, cumulative] = now.buckets[i];
      const upTo = cumulative - (before.buckets[i] ? before.buckets[i][1] : 0); // writes <= bound
      if (upTo >= target) {
        const share = upTo === lowerCount ? 0 : (target - lowerCount) / (upTo - lowerCount);
        return (lowerBound + (bound - lowerBound) * share) * 1000;
      }
      lowerBound = bound;
      lowerCount = upTo;
    }
    return lowerBound * 1000; // beyond the last finite bucket
  }

  function record(snapshot) {
    const offsets = snapshot.offsets;
    const partitions = offsets.available ? offsets.partitions.map((p) => p.partition) : [];
    if (offsets.available) ensurePlots(partitions);
    else ensurePlots(plots.lag ? plots.lag.partitionKey.split(",").filter(Boolean).map(Number) : []);

    const seconds = previous ? snapshot.time - previous.time : 0;
    series.time.push(snapshot.time);
    series.lagTotal.push(offsets.available ? offsets.lag_total : null);
    const byPartition = new Map(offsets.available ? offsets.partitions.map((p) => [p.partition, p.lag]) : []);
    for (const p of partitions) {
      if (!series.lagByPartition.has(p)) {
        series.lagByPartition.set(p, new Array(series.time.length - 1).fill(null));
      }
    }
    for (const [p, values] of series.lagByPartition) values.push(byPartition.has(p) ? byPartition.get(p) : null);
    const before = previous ? previous.offsets : null;
    series.produced.push(rate(offsets, before, "produced_total", seconds));
    series.processed.push(rate(offsets, before, "processed_total", seconds));
    series.deadLettered.push(rate(offsets, before, "dead_lettered_total", seconds));

    const latency = snapshot.write_latency;
    // Another replica's histogram is no baseline: this snapshot starts a new one.
    const sameReplica = previous && previous.replica === snapshot.replica;
    const latencyBefore = sameReplica ? previous.write_latency : null;
    const writes = latencyBefore ? latency.count - latencyBefore.count : 0;
    series.latencyMean.push(writes > 0 ? ((latency.sum_seconds - latencyBefore.sum_seconds) / writes) * 1000 : null);
    series.latencyP95.push(latencyBefore ? quantile(0.95, latency, latencyBefore) : null);

    const group = snapshot.group_members;
    series.members.push(group.available ? group.members.length : null);
    const replicas = snapshot.replicas;
    series.webReady.push(replicas.available && replicas.web.available ? replicas.web.ready : null);
    series.consumerReady.push(replicas.available && replicas.consumer.available ? replicas.consumer.ready : null);

    if (series.time.length > KEEP) {
      const drop = series.time.length - KEEP;
      for (const value of Object.values(series)) {
        if (Array.isArray(value)) value.splice(0, drop);
      }
      for (const values of series.lagByPartition.values()) values.splice(0, drop);
    }
  }

  function draw() {
    const t = series.time;
    const partitions = plots.lag.partitionKey.split(",").filter(Boolean).map(Number);
    plots.lag.setData([t, series.lagTotal, ...partitions.map((p) => series.lagByPartition.get(p))]);
    plots.rates.setData([t, series.produced, series.processed, series.deadLettered]);
    plots.latency.setData([t, series.latencyMean, series.latencyP95]);
    plots.replicas.setData([t, series.members, series.webReady, series.consumerReady]);
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = String(text);
    if (className) td.className = className;
    row.append(td);
  }

  function tables(snapshot) {
    const group = snapshot.group_members;
    const owners = new Map();
    const members = [];
    if (group.available) {
      $("group-state").textContent = `${group.members.length} · ${group.state}`;
      for (const member of group.members) {
        for (const p of member.partitions) owners.set(p, member.member_id.slice(-12));
        const row = document.createElement("tr");
        cell(row, member.member_id.slice(-12));
        cell(row, member.client_id);
        cell(row, member.host);
        cell(row, member.partitions.join(", ") || "none");
        members.push(row);
      }
    } else {
      $("group-state").textContent = "";
    }
    showReason("members-unavailable", group);
    $("members").querySelector("tbody").replaceChildren(...members);

    const offsets = snapshot.offsets;
    const rows = [];
    if (offsets.available) {
      for (const p of offsets.partitions) {
        const row = document.createElement("tr");
        row.dataset.partition = String(p.partition);
        if (p.lag > 0) row.className = "lagging";
        cell(row, p.partition);
        cell(row, p.high, "number");
        cell(row, p.position, "number");
        cell(row, p.lag, "number lag");
        cell(row, owners.get(p.partition) || "");
        rows.push(row);
      }
      $("lag-now").textContent = `${offsets.lag_total} now`;
      $("lag-card").dataset.lagTotal = String(offsets.lag_total);
    } else {
      $("lag-now").textContent = "";
    }
    $("partitions").querySelector("tbody").replaceChildren(...rows);
    showReason("lag-unavailable", offsets);
    showReason("rates-unavailable", offsets);

    const replicas = snapshot.replicas;
    const deployments = [];
    if (replicas.available) {
      for (const part of [replicas.web, replicas.consumer]) {
        const row = document.createElement("tr");
        if (part.available) {
          cell(row, part.name);
          cell(row, part.desired, "number");
          cell(row, part.ready, "number");
          cell(row, part.updated, "number");
        } else {
          cell(row, `unavailable: ${part.reason}`);
        }
        deployments.push(row);
      }
    }
    $("deployments").hidden = !replicas.available;
    $("deployments").querySelector("tbody").replaceChildren(...deployments);
    showReason("replicas-unavailable", replicas.available ? { available: true } : {
      available: false, reason: `${replicas.reason}. Group members still come from Kafka.`,
    });
  }

  async function poll() {
    try {
      const response = await fetch("/api/v1/operations", {
        cache: "no-store", signal: AbortSignal.timeout(15000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const snapshot = await response.json();
      $("topic").textContent = snapshot.topic;
      $("group").textContent = snapshot.group;
      $("replica").textContent = snapshot.replica;
      if (!previous || snapshot.time > previous.time) {
        record(snapshot);
        draw();
        tables(snapshot);
        previous = snapshot;
        window.shopsysOps.snapshots += 1;
        document.body.dataset.snapshots = String(window.shopsysOps.snapshots);
      }
      $("status").textContent = `Updated ${new Date(previous.time * 1000).toLocaleTimeString()}.`;
      $("status").className = "";
    } catch (error) {
      $("status").textContent = `The management API did not answer (${error.message}); retrying.`;
      $("status").className = "error";
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
