extension StatusPage {
    /// The page's script. Every text that came from the gateway goes into the DOM through
    /// `textContent` (or `createElement`), never as markup: a model's answer or a fallback
    /// reason is data, not HTML. ASCII only (other characters as `\u` escapes), so that the
    /// hash in the Content-Security-Policy is the same whatever a proxy does to the charset.
    ///
    /// Polling stops on a refused key until another is given: each wrong key counts against
    /// the address's failed-authentication budget (30 a minute by default), which a page
    /// retrying every two seconds would spend for every client behind the same proxy.
    static let script = #"""

        "use strict";
        const API_KEY = "cervella.apiKey", ADMIN_KEY = "cervella.adminKey", DASH = "\u2013";
        const $ = (id) => document.getElementById(id);
        let lastStatus = null, pollTimer = null, polling = false;

        function show(element, text, state) {
          element.textContent = text;
          if (state) element.dataset.state = state; else delete element.dataset.state;
        }
        function apiKey() { return localStorage.getItem(API_KEY) || ""; }
        function adminKey() { return sessionStorage.getItem(ADMIN_KEY) || ""; }

        // One request to the gateway: a relative URL (the page may sit behind a proxy, under a
        // sub-path), JSON both ways; never throws, the failure is in the result.
        async function call(path, key, body) {
          const headers = {};
          if (key) headers["Authorization"] = "Bearer " + key;
          if (body !== undefined) headers["Content-Type"] = "application/json";
          const controller = new AbortController();
          const timer = setTimeout(() => controller.abort(), body === undefined ? 10000 : 130000);
          try {
            const response = await fetch(path, {
              method: body === undefined ? "GET" : "POST", headers, cache: "no-store", signal: controller.signal,
              body: body === undefined ? undefined : JSON.stringify(body),
            });
            let data = null;
            try { data = await response.json(); } catch (_) { data = null; }
            const error = data && data.error ? data.error : {};
            return {
              ok: response.ok, status: response.status, data, code: error.code || "", message: error.message || "",
              retryAfter: Number(response.headers.get("Retry-After")) || 0,
            };
          } catch (error) {
            return { ok: false, status: 0, data: null, code: "network", message: "the gateway did not answer", retryAfter: 0 };
          } finally {
            clearTimeout(timer);
          }
        }

        // --- figures -------------------------------------------------------------------
        function percent(value) { return typeof value === "number" ? (value * 100).toFixed(1) + "%" : DASH; }
        function dollars(value, places) { return typeof value === "number" ? "$" + value.toFixed(places) : DASH; }
        function bound(value) {
          if (typeof value === "number") return "\u2264 " + value + " ms";
          if (typeof value === "string") return "> " + value.replace(">", "") + " ms";
          return DASH;
        }
        function count(value) { return typeof value === "number" ? String(value) : DASH; }

        function tierState(tier) {
          if (tier.enabled && tier.in_window === false) return "outside its window (" + tier.window + "): Claude serves its jobs";
          if (tier.enabled) {
            const state = tier.live_worker ? "on" : "on (no live worker serves it)";
            return tier.window ? state + ", window " + tier.window : state;
          }
          if (tier.switched_off_by === "pool") return "off: turned off automatically: " + (tier.switched_off_reason || "endpoints down");
          if (tier.switched_off_by === "operator") return "off (turned off by an operator)";
          return "off (disabled in the configuration)";
        }

        function render(status) {
          lastStatus = status;
          const requests = status.requests_24h || {};
          show($("requests-total"), count(requests.total));
          show($("cost-today"), dollars(status.cost_today_usd, 4));
          show($("cost-month"), dollars(status.cost_month_projection_usd, 2));
          const saved = status.savings_vs_claude_only_pct;
          show($("savings"), dollars(status.savings_vs_claude_only_usd, 4) + (typeof saved === "number" ? " (" + saved + "%)" : ""));
          show($("error-rate"), percent(status.error_rate));
          show($("cache-hits"), count(status.cache_hits_24h));
          const workers = status.workers || {};
          show($("workers-alive"), count(workers.alive));
          show($("in-flight"), count(workers.in_flight) + " / " + count(workers.concurrency));
          replaceItems($("alerts"), status.alerts || [], (text) => text);

          for (const number of ["1", "2", "3"]) {
            const tier = (status.tiers || {})[number];
            if (!tier) continue;
            const name = "tier_" + number, latency = (status.latency_percentiles_ms || {})[name] || {};
            show($("tier-" + number + "-model"), tier.model);
            show($("tier-" + number + "-state"), tierState(tier));
            $("tier-" + number + "-state").className = tier.enabled ? "" : "off";
            show($("tier-" + number + "-health"), tier.health);
            show($("tier-" + number + "-share"), percent((status.tier_distribution || {})[name]));
            show($("tier-" + number + "-requests"), count(requests[name]));
            show($("tier-" + number + "-fallback"), number === "3" ? DASH : percent((status.fallback_rate || {})[name]));
            for (const p of ["p50", "p90", "p95", "p99"]) show($("tier-" + number + "-" + p), bound(latency[p]));
            const button = $("toggle-tier-" + number);
            button.textContent = tier.enabled ? "Turn off" : "Turn on";
            button.setAttribute("aria-label", "Turn tier " + number + (tier.enabled ? " off" : " on"));
            button.dataset.enabled = String(tier.enabled);
            if (!button.dataset.busy) button.disabled = false;
          }

          show($("fallback-enabled"), status.fallback_enabled ? "on" : "off");
          const reasons = Object.entries(status.fallback_reasons || {}).sort((a, b) => b[1] - a[1]);
          replaceItems($("fallback-reasons"), reasons.length ? reasons : [["none", null]],
            ([reason, n]) => n === null ? reason : reason + ": " + n);

          const rows = $("queue-rows");
          rows.replaceChildren();
          for (const [queue, depth] of Object.entries(status.queues || {}).sort()) {
            const row = document.createElement("tr");
            row.dataset.queue = queue;
            const head = document.createElement("th");
            head.scope = "row";
            head.textContent = queue;
            const cell = document.createElement("td");
            cell.className = "number";
            cell.textContent = String(depth);
            row.append(head, cell);
            rows.append(row);
          }
        }

        function replaceItems(list, items, text) {
          list.replaceChildren(...items.map((item) => {
            const li = document.createElement("li");
            li.textContent = text(item);
            return li;
          }));
        }

        // --- polling -------------------------------------------------------------------
        function schedule(seconds) {
          clearTimeout(pollTimer);
          pollTimer = setTimeout(poll, seconds * 1000);
        }

        async function poll() {
          if (polling) return;
          polling = true;
          clearTimeout(pollTimer);
          const result = await call("api/status", apiKey());
          polling = false;
          const connection = $("connection");
          if (result.ok && result.data) {
            render(result.data);
            show(connection, "Live: updated " + new Date().toLocaleTimeString(), "ok");
            schedule(2);
          } else if (result.status === 401 || result.status === 403) {
            // No retry with the same key: see the comment above this script.
            show(connection, apiKey()
              ? "Key refused: the gateway did not accept this API key. Enter another one above."
              : "An API key is needed: enter one above.", "error");
          } else if (result.status === 429) {
            const wait = Math.max(result.retryAfter, 2);
            show(connection, "Too many requests (" + result.message + "); trying again in " + wait + " s.", "error");
            schedule(wait);
          } else if (result.status === 0) {
            show(connection, "The gateway did not answer; trying again.", "error");
            schedule(5);
          } else {
            show(connection, "Status unavailable (" + result.status + " " + (result.message || result.code) + "); trying again.", "error");
            schedule(5);
          }
        }

        // --- keys ----------------------------------------------------------------------
        $("api-key-form").addEventListener("submit", (event) => {
          event.preventDefault();
          const key = $("api-key").value.trim();
          if (key) localStorage.setItem(API_KEY, key); else localStorage.removeItem(API_KEY);
          $("api-key").value = "";
          show($("key-message"), key ? "API key saved in this browser." : "API key removed.");
          poll();
        });
        $("forget-api-key").addEventListener("click", () => {
          localStorage.removeItem(API_KEY);
          show($("key-message"), "API key removed from this browser.");
          poll();
        });
        $("admin-key-form").addEventListener("submit", (event) => {
          event.preventDefault();
          const key = $("admin-key").value.trim();
          if (key) sessionStorage.setItem(ADMIN_KEY, key); else sessionStorage.removeItem(ADMIN_KEY);
          $("admin-key").value = "";
          show($("key-message"), key ? "Admin key kept for this tab." : "Admin key removed.");
        });
        $("forget-admin-key").addEventListener("click", () => {
          sessionStorage.removeItem(ADMIN_KEY);
          show($("key-message"), "Admin key removed from this tab.");
        });

        // --- tier switches -------------------------------------------------------------
        async function toggle(number) {
          const button = $("toggle-tier-" + number), message = $("switch-message");
          const enable = button.dataset.enabled !== "true";
          const key = adminKey();
          button.disabled = true;
          button.dataset.busy = "1";
          show(message, "Turning tier " + number + (enable ? " on" : " off") + "\u2026");
          // Without an admin key the request still goes out (with no key at all, never the API
          // key): the gateway's answer is what the page shows.
          const result = await call("api/admin/toggle-tier", key, { tier: Number(number), enabled: enable });
          delete button.dataset.busy;
          button.disabled = false;
          if (result.ok) {
            show(message, "Tier " + number + " turned " + (enable ? "on." : "off."), "ok");
          } else if (result.code === "admin_disabled") {
            show(message, "The admin API is off on this gateway (CERVELLA_ADMIN_KEY is not set).", "error");
          } else if (result.status === 401 || result.status === 403) {
            if (key) {
              sessionStorage.removeItem(ADMIN_KEY);
              show(message, "Admin key refused: enter the admin key again under Keys.", "error");
            } else {
              show(message, "An admin key is needed to switch tiers: enter it under Keys.", "error");
            }
          } else {
            show(message, "The switch failed (" + result.status + " " + (result.message || result.code) + ").", "error");
          }
          poll();
        }
        for (const number of ["1", "2", "3"]) $("toggle-tier-" + number).addEventListener("click", () => toggle(number));

        // --- chat ----------------------------------------------------------------------
        function field(list, label, name, value) {
          const wrapper = document.createElement("div");
          const term = document.createElement("dt");
          term.textContent = label;
          const detail = document.createElement("dd");
          detail.dataset.field = name;
          detail.textContent = value;
          wrapper.append(term, detail);
          list.append(wrapper);
        }

        // Thumbs up/down (report 6.1): POST /api/feedback with the answer's job id, once.
        function feedbackButtons(id) {
          const box = document.createElement("div");
          box.className = "feedback";
          const note = document.createElement("span");
          note.className = "feedback-state";
          const buttons = [["up", "Good", "Thumbs up: a good answer"], ["down", "Bad", "Thumbs down: a bad answer"]].map(([rating, label, title]) => {
            const button = document.createElement("button");
            button.type = "button";
            button.dataset.rating = rating;
            button.textContent = label;
            button.title = title;
            button.setAttribute("aria-label", title);
            button.addEventListener("click", async () => {
              for (const other of buttons) other.disabled = true;
              const result = await call("api/feedback", apiKey(), { job_id: id, rating });
              if (result.ok) {
                note.textContent = rating === "up" ? "Thanks: rated good." : "Thanks: rated bad.";
              } else {
                note.textContent = "Not recorded (" + result.status + " " + (result.message || result.code) + ").";
                if (result.status !== 409) for (const other of buttons) other.disabled = false;
              }
            });
            return button;
          });
          box.append(...buttons, note);
          return box;
        }

        function addAnswer(question, answer, meta, id) {
          const item = document.createElement("li");
          item.className = "answer";
          const asked = document.createElement("p");
          asked.className = "question";
          asked.textContent = question;
          const text = document.createElement("p");
          text.className = "answer-text";
          text.textContent = answer;
          const list = document.createElement("dl");
          list.className = "meta";
          field(list, "tier", "tier", String(meta.tier));
          field(list, "model", "model", meta.model_used || DASH);
          field(list, "confidence", "confidence", typeof meta.confidence === "number" ? meta.confidence.toFixed(2) : DASH);
          field(list, "latency", "latency", count(meta.latency_ms) + " ms");
          field(list, "cost", "cost", dollars(meta.cost_usd, 6));
          field(list, "fallback", "fallback", meta.fallback ? "yes: " + (meta.fallback_reason || "") + " (from " + (meta.original_model || "?") + ")" : "no");
          field(list, "cache", "cache", meta.cache_hit ? "hit" : "miss");
          field(list, "why this tier", "reason", meta.tier_decision_reason || DASH);
          item.append(asked, text, list);
          if (id) item.append(feedbackButtons(id));
          $("chat-log").prepend(item);
        }

        $("chat-form").addEventListener("submit", async (event) => {
          event.preventDefault();
          const message = $("chat-message").value;
          if (!message.trim()) return;
          const send = $("chat-send"), state = $("chat-state");
          send.disabled = true;
          show(state, "Waiting for the pool\u2026");
          const result = await call("api/chat", apiKey(), { message, tier_hint: $("chat-tier").value });
          send.disabled = false;
          if (result.ok && result.data && result.data.metadata) {
            show(state, "Answered by tier " + result.data.metadata.tier + ".", "ok");
            addAnswer(message, result.data.response || "", result.data.metadata, result.data.id);
            $("chat-message").value = "";
            poll();
          } else if (result.status === 401 || result.status === 403) {
            show(state, "Key refused: the chat needs a valid API key (enter it above).", "error");
          } else {
            show(state, "No answer (" + result.status + " " + (result.message || result.code) + ").", "error");
          }
        });
        $("chat-message").addEventListener("keydown", (event) => {
          if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("chat-form").requestSubmit();
        });

        poll();

        """#
}
