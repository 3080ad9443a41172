/* The demo chat page: wires WsappClient to the message list, composer and channel switcher. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("chat-config").textContent);
  var messages = document.getElementById("messages");
  var errorBox = document.getElementById("chat-error");
  var currentChannel = document.getElementById("current-channel");
  var messageForm = document.getElementById("message-form");
  var messageInput = document.getElementById("message-input");
  var channelForm = document.getElementById("channel-form");
  var channelInput = document.getElementById("channel-input");
  var sendButton = document.getElementById("send-button");

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function formatTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function addItem(className, build) {
    var item = document.createElement("li");
    item.className = className;
    build(item);
    messages.appendChild(item);
    messages.scrollTop = messages.scrollHeight;
  }

  function addChatMessage(data) {
    addItem("message" + (data.user === config.user ? " mine" : ""), function (item) {
      item.setAttribute("data-channel", data.channel || "");
      var meta = document.createElement("div");
      meta.className = "meta";
      var user = document.createElement("span");
      user.className = "user";
      user.textContent = data.user;
      var time = document.createElement("time");
      time.dateTime = data.sent_at || "";
      time.textContent = formatTime(data.sent_at);
      meta.appendChild(user);
      meta.appendChild(time);
      var body = document.createElement("div");
      body.className = "body";
      body.textContent = data.message;
      item.appendChild(meta);
      item.appendChild(body);
    });
  }

  function addNotice(text, extra) {
    addItem("notice " + (extra || ""), function (item) {
      item.textContent = text;
    });
  }

  function markChannel(channel) {
    currentChannel.textContent = channel;
    var buttons = document.querySelectorAll("button.channel");
    for (var i = 0; i < buttons.length; i++) {
      var active = buttons[i].getAttribute("data-channel") === channel;
      buttons[i].classList.toggle("active", active);
      buttons[i].setAttribute("aria-pressed", active ? "true" : "false");
    }
    document.body.setAttribute("data-channel", channel);
  }

  function setComposerEnabled(enabled) {
    sendButton.disabled = !enabled;
  }

  var client = new WsappClient({
    url: config.url,
    tokenUrl: config.tokenUrl,
    channel: config.channel,
    stateElement: "#ws-state",
    onStateChange: function (state, detail) {
      setComposerEnabled(state === "open");
      document.body.setAttribute("data-ws-state", state);
      if (state === "open") {
        showError("");
        markChannel(client.channel);
      } else if (state === "closed" && detail && detail.error) {
        var reason = String(detail.error.message || detail.error).replace(/\.$/, "");
        showError("Disconnected: " + reason + ". Reload the page to try again.");
      }
    },
    onMessage: function (data) {
      if (!data || typeof data !== "object") return;
      if (data.type === "chat_message") {
        addChatMessage(data);
      } else if (data.type === "channel_changed") {
        markChannel(data.channel);
        addNotice("You are now in #" + data.channel, "channel-change");
      } else if (data.type === "error") {
        showError(data.error);
      } else {
        // Anything pushed from Django (e.g. send_message from a shell) is shown as is.
        addNotice(data.message || JSON.stringify(data), "pushed");
      }
    },
  });
  window.demoChat = client;

  messageForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = messageInput.value.trim();
    if (!text) return;
    if (client.send("chat_message", { message: text })) {
      messageInput.value = "";
      showError("");
    } else {
      showError("Not connected; your message was not sent.");
    }
  });

  function switchTo(channel) {
    if (!channel || channel === client.channel) return;
    if (!client.changeChannel(channel)) showError("Not connected; try again in a moment.");
  }

  document.getElementById("channel-list").addEventListener("click", function (event) {
    var button = event.target.closest("button.channel");
    if (button) switchTo(button.getAttribute("data-channel"));
  });

  channelForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var name = channelInput.value.trim();
    if (name) {
      switchTo(name);
      channelInput.value = "";
    }
  });

  markChannel(config.channel);
  setComposerEnabled(false);
})();
