/*
 * wsapp WebSocket client: token, connect, reconnect, JSON in and out (and any
 * frame that is not JSON, text or binary, to the "raw" listeners).
 *
 * A plain script (no build step). Load the vendored reconnecting-websocket build
 * first, then this file; it defines the global `WsappClient`:
 *
 *   <script src="{% static 'wsapp/vendor/reconnecting-websocket/reconnecting-websocket-iife.js' %}"></script>
 *   <script src="{% static 'wsapp/client.js' %}"></script>
 *   <script>
 *     var client = new WsappClient({
 *       url: "wss://abc123.execute-api.eu-west-1.amazonaws.com/production",
 *       tokenUrl: "/ws-token/",
 *       channel: "general",
 *       stateElement: "#ws-state",
 *       onMessage: function (data) { console.log(data); },
 *     });
 *     client.send("chat_message", {message: "hello"});
 *   </script>
 *
 * Reconnection (the retry loop, backoff, connection timeout) is
 * reconnecting-websocket's; this file supplies its URL provider, which adds the
 * random part of each wait and fetches a fresh single-use token before every
 * attempt. See docs/js_client.md.
 */
(function (global) {
  "use strict";

  var STATES = ["connecting", "open", "reconnecting", "closed"];
  var DEFAULT_LABELS = {
    connecting: "Connecting…",
    open: "Connected",
    reconnecting: "Reconnecting…",
    closed: "Disconnected",
  };
  var DEFAULTS = {
    url: "",
    tokenUrl: "/ws-token/",
    useToken: true,
    channel: "",
    csrfToken: "",
    csrfCookieName: "csrftoken",
    tokenTimeout: 10000,
    autoConnect: true,
    stateElement: null,
    stateLabels: DEFAULT_LABELS,
    // Backoff: the n-th retry waits between (1 - jitter) and 1 times
    // min(maxDelay, minDelay * growFactor^(n-1)); see retryDelay below.
    minDelay: 1000,
    maxDelay: 30000,
    growFactor: 1.5,
    jitter: 0.5,
    connectionTimeout: 10000,
    // How binary frames reach the "raw" listeners: "blob" (the browser's default)
    // or "arraybuffer".
    binaryType: "blob",
    debug: false,
  };
  var EVENTS = ["message", "raw", "state", "open", "close", "error"];

  /** An error from the token endpoint; `retry` says whether trying again can help. */
  function TokenError(message, status, retry) {
    this.name = "TokenError";
    this.message = message;
    this.status = status;
    this.retry = retry;
  }
  TokenError.prototype = Object.create(Error.prototype);
  TokenError.prototype.constructor = TokenError;

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i].trim();
      if (part.substring(0, name.length + 1) === name + "=") {
        return decodeURIComponent(part.substring(name.length + 1));
      }
    }
    return "";
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  /** The nominal wait before retry `retry` (1 for the first), before jitter. */
  function nominalDelay(retry, opts) {
    if (retry <= 0) return 0;
    return Math.min(opts.maxDelay, opts.minDelay * Math.pow(opts.growFactor, retry - 1));
  }

  /**
   * The whole wait before retry `retry`, for a `random` number in [0, 1).
   *
   * The jitter is a fraction of the current delay, not of minDelay: at the 30 s cap,
   * clients dropped together by a deploy come back spread over 15 s (with the default
   * 0.5) rather than all within the same half second. reconnecting-websocket waits
   * the fixed (1 - jitter) part; the URL provider sleeps the random part.
   */
  function retryDelay(retry, opts, random) {
    var delay = nominalDelay(retry, opts);
    return delay * (1 - opts.jitter) + random * opts.jitter * delay;
  }

  function resolveElement(target) {
    if (!target) return null;
    if (typeof target === "string") return document.querySelector(target);
    return target;
  }

  /**
   * A WebSocket to an API Gateway stage that survives drops.
   *
   * @param {object} options see DEFAULTS above and docs/js_client.md.
   */
  function WsappClient(options) {
    if (!(this instanceof WsappClient)) return new WsappClient(options);
    if (typeof global.ReconnectingWebSocket !== "function") {
      throw new Error(
        "WsappClient needs reconnecting-websocket: load " +
          "wsapp/vendor/reconnecting-websocket/reconnecting-websocket-iife.js before client.js."
      );
    }
    this.options = Object.assign({}, DEFAULTS, options || {});
    this.options.stateLabels = Object.assign({}, DEFAULT_LABELS, this.options.stateLabels);
    if (!this.options.url) {
      throw new Error("WsappClient: the `url` option (the gateway's WebSocket URL) is required.");
    }
    // Fail here, not inside the URL provider (where a throw would wedge reconnection).
    var parsed = new URL(this.options.url, global.location ? global.location.href : undefined);
    if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
      throw new Error("WsappClient: `url` must start with ws:// or wss://, not " + parsed.protocol);
    }
    var jitter = this.options.jitter;
    if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
      throw new Error("WsappClient: `jitter` must be a number from 0 to 1, not " + jitter);
    }
    var binaryType = this.options.binaryType;
    if (binaryType !== "blob" && binaryType !== "arraybuffer") {
      throw new Error(
        'WsappClient: `binaryType` must be "blob" or "arraybuffer", not ' + binaryType
      );
    }
    this.channel = this.options.channel || "";
    this.state = "closed";
    this.lastError = null;
    this._listeners = {};
    this._socket = null;
    this._stateElement = resolveElement(this.options.stateElement);
    var self = this;
    EVENTS.forEach(function (type) {
      self._listeners[type] = [];
    });
    var callbacks = {
      message: "onMessage",
      raw: "onRawMessage",
      state: "onStateChange",
      open: "onOpen",
      close: "onClose",
      error: "onError",
    };
    Object.keys(callbacks).forEach(function (type) {
      var fn = self.options[callbacks[type]];
      if (typeof fn === "function") self.on(type, fn);
    });
    this._render();
    if (this.options.autoConnect) this.open();
  }

  WsappClient.STATES = STATES.slice();
  WsappClient.TokenError = TokenError;
  WsappClient.retryDelay = retryDelay;

  /**
   * Add a listener: "message" (parsed JSON), "raw" (a text frame that is not JSON, or a
   * binary frame as a Blob or ArrayBuffer), "state", "open", "close", "error".
   */
  WsappClient.prototype.on = function (type, fn) {
    if (!this._listeners[type]) throw new Error("WsappClient: unknown event " + type);
    this._listeners[type].push(fn);
    return this;
  };

  WsappClient.prototype.off = function (type, fn) {
    if (this._listeners[type]) {
      this._listeners[type] = this._listeners[type].filter(function (l) {
        return l !== fn;
      });
    }
    return this;
  };

  WsappClient.prototype._emit = function (type) {
    var args = Array.prototype.slice.call(arguments, 1);
    var listeners = this._listeners[type].slice();
    for (var i = 0; i < listeners.length; i++) {
      try {
        listeners[i].apply(this, args);
      } catch (err) {
        // One broken listener must not stop the others or the socket.
        if (global.console) console.error("WsappClient listener for " + type + " failed", err);
      }
    }
  };

  WsappClient.prototype._debug = function () {
    if (this.options.debug && global.console) {
      console.log.apply(console, ["wsapp>"].concat(Array.prototype.slice.call(arguments)));
    }
  };

  WsappClient.prototype._setState = function (state, detail) {
    if (this.state === state) return;
    this.state = state;
    this._debug("state", state, detail || "");
    this._render();
    this._emit("state", state, detail || null);
  };

  WsappClient.prototype._render = function () {
    var el = this._stateElement;
    if (!el) return;
    el.textContent = this.options.stateLabels[this.state] || this.state;
    el.setAttribute("data-ws-state", this.state);
    if (this.lastError && this.state !== "open") {
      el.setAttribute("title", this.lastError.message || String(this.lastError));
    } else {
      el.removeAttribute("title");
    }
  };

  WsappClient.prototype._csrfToken = function () {
    return this.options.csrfToken || readCookie(this.options.csrfCookieName);
  };

  /** POST to the token endpoint; resolves to the raw token or rejects with TokenError. */
  WsappClient.prototype.fetchToken = function () {
    var opts = this.options;
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller
      ? setTimeout(function () {
          controller.abort();
        }, opts.tokenTimeout)
      : null;
    return fetch(opts.tokenUrl, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-CSRFToken": this._csrfToken(), Accept: "application/json" },
      signal: controller ? controller.signal : undefined,
    })
      .then(
        function (response) {
          return response
            .json()
            .catch(function () {
              return {};
            })
            .then(function (body) {
              if (response.ok && body && typeof body.token === "string") return body.token;
              var message = (body && body.error) || "token endpoint answered " + response.status;
              // 401/403: signed out or CSRF refused; retrying cannot help until the
              // page is reloaded. 429 and 5xx are worth another try after a backoff.
              var retry = response.status === 429 || response.status >= 500;
              throw new TokenError(message, response.status, retry);
            });
        },
        function (err) {
          throw new TokenError("could not reach the token endpoint: " + err, 0, true);
        }
      )
      .finally(function () {
        if (timer) clearTimeout(timer);
      });
  };

  WsappClient.prototype._buildUrl = function (token) {
    var url = new URL(this.options.url, global.location ? global.location.href : undefined);
    if (token) url.searchParams.set("ws_token", token);
    if (this.channel) url.searchParams.set("channel", this.channel);
    return url.toString();
  };

  // reconnecting-websocket calls this before every attempt, after its own (fixed)
  // part of the backoff. In 4.4.0 a rejected promise here wedges the instance for
  // good, so it always resolves; it resolves to a URL without a token only once the
  // client has stopped, when the library drops the attempt unopened.
  WsappClient.prototype._nextUrl = function (socket) {
    var self = this;
    var retry = socket ? socket.retryCount : 0;
    var wait = nominalDelay(retry, this.options) * this.options.jitter * Math.random();
    return sleep(wait)
      .then(function () {
        if (!self.options.useToken) return "";
        return self._fetchTokenWithRetries(socket);
      })
      .then(
        function (token) {
          return self._buildUrl(token);
        },
        function () {
          return self._buildUrl("");
        }
      );
  };

  // A retryable token failure (429, 5xx, network) is retried here, with the same
  // backoff and jitter as connections: connecting without a token would only cost a
  // $connect that is sure to be refused. Rejects once the client has stopped.
  WsappClient.prototype._fetchTokenWithRetries = function (socket) {
    var self = this;
    var failures = 0;
    function attempt() {
      return self.fetchToken().catch(function (err) {
        if (socket !== self._socket) throw err;
        self.lastError = err;
        self._render();
        self._emit("error", err);
        if (!err.retry) {
          self._debug("token refused, giving up:", err.message);
          self._stop(err);
          throw err;
        }
        failures++;
        var wait = retryDelay(failures, self.options, Math.random());
        self._debug("token request failed, retrying in", Math.round(wait), "ms:", err.message);
        return sleep(wait).then(function () {
          if (socket !== self._socket) throw err;
          return attempt();
        });
      });
    }
    return attempt();
  };

  /** Open the socket (done by the constructor unless autoConnect is false). */
  WsappClient.prototype.open = function () {
    if (this._socket) return this;
    var self = this;
    var opts = this.options;
    this.lastError = null;
    var socket = null;
    var provider = function () {
      return self._nextUrl(socket);
    };
    socket = new global.ReconnectingWebSocket(provider, [], {
      // The library waits the fixed part of each delay; _nextUrl adds the random part.
      minReconnectionDelay: opts.minDelay * (1 - opts.jitter),
      maxReconnectionDelay: opts.maxDelay * (1 - opts.jitter),
      reconnectionDelayGrowFactor: opts.growFactor,
      connectionTimeout: opts.connectionTimeout,
      // Messages are not queued while the socket is down: send() reports false.
      maxEnqueuedMessages: 0,
      debug: opts.debug,
    });
    // Applied to every underlying WebSocket, the first and each reconnect's.
    socket.binaryType = opts.binaryType;
    this._socket = socket;
    socket.addEventListener("open", function (event) {
      if (socket !== self._socket) return;
      self.lastError = null;
      self._setState("open");
      self._emit("open", event);
    });
    socket.addEventListener("close", function (event) {
      if (socket !== self._socket) return;
      // The library has already scheduled the next attempt (it retries forever;
      // only a refused token, or close(), stops it).
      self._setState("reconnecting", { code: event.code, reason: event.reason });
      self._emit("close", event);
    });
    socket.addEventListener("message", function (event) {
      if (socket !== self._socket) return;
      self._receive(event);
    });
    this._setState("connecting");
    return this;
  };

  WsappClient.prototype._stop = function (error) {
    var socket = this._socket;
    // A cancelled attempt leaves a 4.4.0 instance unable to reconnect, so a later
    // open() always builds a new one.
    this._socket = null;
    if (error) this.lastError = error;
    if (socket) socket.close(1000, "client closed");
    this._setState("closed", error ? { error: error } : null);
  };

  /** Whether a frame's data is binary (a Blob, or an ArrayBuffer) with something in it. */
  function isBinary(data) {
    if (!data || typeof data !== "object") return false;
    if (typeof data.byteLength === "number") return data.byteLength > 0;
    return typeof data.size === "number" && data.size > 0;
  }

  WsappClient.prototype._receive = function (event) {
    var text = event.data;
    if (typeof text !== "string") {
      // A binary frame (the local gateway sends one for a body that is not UTF-8) is
      // never parsed: the raw listeners get it as it came, a Blob or an ArrayBuffer
      // depending on `binaryType`. Empty frames are ignored, as empty text frames are.
      if (isBinary(text)) this._emit("raw", text, event);
      return;
    }
    if (text === "") return;
    var data;
    try {
      data = JSON.parse(text);
    } catch (err) {
      this._emit("raw", text, event);
      return;
    }
    if (data && data.type === "channel_changed" && typeof data.channel === "string") {
      // Reconnects must rejoin the channel the server last confirmed.
      this.channel = data.channel;
    }
    this._emit("message", data, event);
  };

  /**
   * Send a JSON message. `send("chat_message", {message: "hi"})` or
   * `send({action: "chat_message", message: "hi"})`. Returns false (and sends
   * nothing) while the socket is not open.
   */
  WsappClient.prototype.send = function (action, payload) {
    var message;
    if (typeof action === "string") {
      message = Object.assign({}, payload || {}, { action: action });
    } else if (action && typeof action === "object" && typeof action.action === "string") {
      message = action;
    } else {
      throw new Error('WsappClient.send: give an action name, or an object with an "action".');
    }
    if (!this._socket || this.state !== "open") return false;
    this._socket.send(JSON.stringify(message));
    return true;
  };

  /** Ask the server to move this connection to `channel` (WebSocketView.change_channel). */
  WsappClient.prototype.changeChannel = function (channel) {
    return this.send("change_channel", { channel: channel });
  };

  /** Close for good (no reconnect). open() starts again. */
  WsappClient.prototype.close = function () {
    this._stop(null);
    return this;
  };

  global.WsappClient = WsappClient;
})(typeof window !== "undefined" ? window : this);
