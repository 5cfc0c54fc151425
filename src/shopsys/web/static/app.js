"use strict";
// The storefront: plain DOM code, no build step. Text is always set with textContent.

(function () {
  const USER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
  const PAGE_SIZE = 20;
  const POLL_MS = 1000;
  const POLL_LIMIT_MS = 60000;
  // A doubtful answer (503: the order may still be stored) is retried with the same
  // Idempotency-Key, so the order is placed once however many times it is sent.
  const RETRIES = 4;
  const RETRY_DELAY_MAX_MS = 8000;

  const el = (id) => document.getElementById(id);
  // pending: accepted purchases not stored yet; cancelling: purchase id -> when asked;
  // unconfirmed: "product/quantity" -> the key of an order whose answer stayed doubtful,
  // reused when the same order is sent again.
  const state = {
    userId: "", cursor: null, pending: new Map(), cancelling: new Map(), unconfirmed: new Map(), polling: null,
  };

  function money(cents, currency) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
    } catch (_error) {
      return (cents / 100).toFixed(2) + " " + currency;
    }
  }

  function say(message, kind) {
    const status = el("status");
    status.textContent = message;
    status.className = kind || "";
  }

  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function node(tag, className, text) {
    const item = document.createElement(tag);
    if (className) item.className = className;
    if (text !== undefined) item.textContent = text;
    return item;
  }

  async function api(path, options) {
    const response = await fetch(path, options);
    let body = null;
    try {
      body = await response.json();
    } catch (_error) {
      body = null;
    }
    if (!response.ok) {
      const error = (body && body.error) || {};
      const fields = (error.details || []).map((d) => d.field + ": " + d.message).join("; ");
      const message = (error.message || "HTTP " + response.status) + (fields ? " (" + fields + ")" : "");
      const failure = new Error(message);
      failure.doubtful = response.status === 503;
      failure.retryAfterMs = 1000 * (Number.parseInt(response.headers.get("Retry-After") || "", 10) || 1);
      throw failure;
    }
    return body;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // POST until accepted, retrying doubtful answers and lost connections with the same key.
  async function send(path, options, retrying) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await api(path, options);
      } catch (error) {
        const doubtful = error.doubtful || error instanceof TypeError; // TypeError: no answer
        if (!doubtful || attempt >= RETRIES) throw error;
        retrying(attempt + 1);
        await sleep(Math.min(error.retryAfterMs || 1000, RETRY_DELAY_MAX_MS));
      }
    }
  }

  async function loadProducts() {
    const list = el("products");
    try {
      const products = await api("/api/v1/products");
      list.replaceChildren();
      if (products.length === 0) list.append(node("li", "muted", "The catalog is empty."));
      for (const product of products) list.append(productCard(product));
    } catch (error) {
      list.replaceChildren(node("li", "muted", "Could not load the catalog: " + error.message));
    }
  }

  function productCard(product) {
    const card = node("li");
    card.dataset.productId = product.id;
    card.append(node("span", "name", product.name));
    card.append(node("span", "price", money(product.price_cents, product.currency)));
    const row = node("div", "buy-row");
    const quantity = node("input");
    Object.assign(quantity, { type: "number", min: "1", max: "1000", value: "1", className: "quantity" });
    quantity.setAttribute("aria-label", "Quantity of " + product.name);
    const button = node("button", "buy", "Buy");
    button.type = "button";
    button.addEventListener("click", () => buy(product, quantity, button));
    row.append(quantity, button);
    card.append(row);
    return card;
  }

  function currentUser() {
    const userId = el("user-id").value.trim();
    if (!USER_PATTERN.test(userId)) {
      say("Enter a user id first: letters, digits and . _ : @ - (up to 64).", "error");
      el("user-id").focus();
      return null;
    }
    return userId;
  }

  async function buy(product, quantityInput, button) {
    const userId = currentUser();
    if (userId === null) return;
    selectUser(userId, false);
    const quantity = Number.parseInt(quantityInput.value, 10);
    const body = { user_id: userId, product_id: product.id, quantity };
    const username = el("username").value.trim();
    if (username) body.username = username;
    button.disabled = true;
    const order = product.id + "/" + quantity;
    const earlier = state.unconfirmed.get(order);
    const key = earlier || newKey();
    state.unconfirmed.set(order, key);
    say((earlier ? "Sending your earlier order again for " : "Sending your order for ") + product.name + "…");
    try {
      const accepted = await send("/api/v1/purchases", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(body),
      }, (attempt) => say("Not confirmed yet, retrying your order for " + product.name + " (" + attempt + ")…"));
      state.unconfirmed.delete(order);
      state.pending.set(accepted.purchase_id, {
        purchase_id: accepted.purchase_id,
        product_name: product.name,
        quantity,
        total_cents: accepted.total_cents,
        currency: accepted.currency,
        since: Date.now(),
      });
      say("Accepted: " + product.name + " × " + quantity + " for " + money(accepted.total_cents, accepted.currency) + ".", "ok");
      await refreshPurchases();
    } catch (error) {
      if (error.doubtful || error instanceof TypeError) {
        say("Not confirmed: " + error.message + ". It may still go through; Buy again sends the same order, never a second one.", "error");
      } else {
        state.unconfirmed.delete(order);
        say("Not bought: " + error.message, "error");
      }
    } finally {
      button.disabled = false;
    }
  }

  async function cancel(purchase, button) {
    button.disabled = true;
    say("Cancelling " + purchase.product_name + "…");
    try {
      const path = "/api/v1/users/" + encodeURIComponent(state.userId) + "/purchases/" +
        encodeURIComponent(purchase.purchase_id) + "/cancel";
      await send(path, { method: "POST", headers: { "Idempotency-Key": newKey() } },
        (attempt) => say("Not confirmed yet, retrying the cancellation (" + attempt + ")…"));
      state.cancelling.set(purchase.purchase_id, Date.now());
      say("Cancellation accepted: " + purchase.product_name + " × " + purchase.quantity + ".", "ok");
      await refreshPurchases(false);
    } catch (error) {
      say("Not cancelled: " + error.message, "error");
      button.disabled = false;
    }
  }

  function selectUser(userId, announce) {
    if (userId === state.userId) return;
    state.userId = userId;
    state.pending.clear();
    state.cancelling.clear();
    state.unconfirmed.clear();
    try {
      localStorage.setItem("shopsys.user_id", userId);
      localStorage.setItem("shopsys.username", el("username").value.trim());
    } catch (_error) { /* storage may be disabled */ }
    if (announce) say("Showing purchases of " + userId + ".");
  }

  function purchaseRow(purchase, pending) {
    const row = node("li", pending ? "pending" : "");
    row.dataset.purchaseId = purchase.purchase_id;
    const what = node("span", "what", purchase.product_name + " × " + purchase.quantity);
    const right = node("span", "meta");
    right.append(money(purchase.total_cents, purchase.currency));
    if (pending) {
      right.append(" ", node("span", "badge", "pending"));
    } else {
      right.append(" · " + new Date(purchase.created_at).toLocaleString());
      if (purchase.status === "cancelled") {
        row.classList.add("cancelled");
        right.append(" ", node("span", "badge", "cancelled"));
      } else if (state.cancelling.has(purchase.purchase_id)) {
        right.append(" ", node("span", "badge", "cancelling"));
      } else {
        const button = node("button", "cancel", "Cancel");
        button.type = "button";
        button.setAttribute("aria-label", "Cancel " + purchase.product_name);
        button.addEventListener("click", () => cancel(purchase, button));
        right.append(" ", button);
      }
    }
    row.append(what, right);
    return row;
  }

  async function refreshPurchases(append) {
    if (!state.userId) return;
    const list = el("purchases");
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (append && state.cursor) params.set("cursor", state.cursor);
    let page;
    try {
      page = await api("/api/v1/users/" + encodeURIComponent(state.userId) + "/purchases?" + params);
    } catch (error) {
      say("Could not load your purchases: " + error.message, "error");
      return;
    }
    for (const item of page.items) {
      state.pending.delete(item.purchase_id);
      if (item.status === "cancelled") state.cancelling.delete(item.purchase_id);
    }
    const now = Date.now();
    for (const [id, item] of state.pending) if (now - item.since > POLL_LIMIT_MS) state.pending.delete(id);
    for (const [id, since] of state.cancelling) if (now - since > POLL_LIMIT_MS) state.cancelling.delete(id);
    if (!append) {
      list.replaceChildren();
      const pending = Array.from(state.pending.values()).reverse();
      for (const item of pending) list.append(purchaseRow(item, true));
    }
    for (const item of page.items) list.append(purchaseRow(item, false));
    if (list.children.length === 0) list.append(node("li", "muted", "No purchases yet."));
    state.cursor = page.next_cursor;
    el("more").hidden = !page.next_cursor;
    schedulePoll();
  }

  function schedulePoll() {
    clearTimeout(state.polling);
    const waiting = state.pending.size + state.cancelling.size;
    if (waiting > 0) state.polling = setTimeout(() => refreshPurchases(false), POLL_MS);
  }

  function start() {
    try {
      el("user-id").value = localStorage.getItem("shopsys.user_id") || "";
      el("username").value = localStorage.getItem("shopsys.username") || "";
    } catch (_error) { /* storage may be disabled */ }
    el("user-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const userId = currentUser();
      if (userId === null) return;
      selectUser(userId, true);
      refreshPurchases(false);
    });
    el("more").addEventListener("click", () => refreshPurchases(true));
    loadProducts();
    const userId = el("user-id").value.trim();
    if (USER_PATTERN.test(userId)) {
      selectUser(userId, false);
      refreshPurchases(false);
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
