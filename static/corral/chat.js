// The chat. Answers stream token by token from the native API (/api/v1/chat, signed in with the
// session and its CSRF token) into plain text; once an answer ends, the thread is replaced by the
// server's rendering (Markdown, sanitized there). Plain JavaScript, served by Corral.
(() => {
  const $ = (selector) => document.querySelector(selector);
  const composer = $("#composer");
  if (!composer) return;
  const prompt = $("#prompt");
  const sendButton = $("#send");
  const stopButton = $("#stop");
  const thread = $("#thread");
  const picker = $("#model-picker");
  const errorBox = $("#chat-error");
  const settingsForm = $("#settings-form");
  const plain = JSON.parse($("#plain-errors").textContent);
  const cards = JSON.parse($("#model-cards").textContent);
  let state = JSON.parse($("#thread-data").textContent); // null until the first message
  let controller = null;
  let busy = false; // an answer is being written (this page's, or one found running on arrival)
  let attachments = []; // images waiting to go with the next question: { data (base64), url }

  const csrfToken = () => document.querySelector("[name=csrfmiddlewaretoken]").value;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const scrollDown = () => { thread.scrollTop = thread.scrollHeight; };

  function showError(text, code) {
    errorBox.textContent = text;
    if (code === "unauthenticated") {
      const link = document.createElement("a");
      link.href = `${composer.dataset.loginUrl}?next=${encodeURIComponent(location.pathname)}`;
      link.textContent = "Sign in again";
      errorBox.append(" ", link);
    }
    errorBox.hidden = false;
    scrollDown(); // the banner takes room from the thread: keep the last answer's links in view
  }

  function hideError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function duration(seconds) {
    if (seconds < 90) return `${Math.max(1, Math.round(seconds))} seconds`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return `${minutes} minutes`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ${minutes % 60} min`;
    return `${Math.round(hours / 24)} days`;
  }

  function describe(error) {
    let text = plain[error.code] || error.message || plain.internal_error;
    if (error.retryAfter && (error.code === "quota_exceeded" || error.code === "rate_limited")) {
      const at = new Date(Date.now() + error.retryAfter * 1000);
      const clock = at.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
      text += ` It resets in ${duration(error.retryAfter)} (${clock}).`;
    }
    return text;
  }

  async function errorFrom(response) {
    let error = { code: "internal_error", message: `HTTP ${response.status}` };
    try {
      error = (await response.json()).error || error;
    } catch {
      // not JSON: a sign-in page reached through a redirect means the session has ended
      if (response.redirected && new URL(response.url).pathname === composer.dataset.loginUrl) {
        error = { code: "unauthenticated" };
      }
    }
    const retryAfter = Number(response.headers.get("Retry-After"));
    if (retryAfter > 0) error.retryAfter = retryAfter;
    return error;
  }

  function currentSettings() {
    const temperature = settingsForm.elements.temperature.value.trim();
    return {
      system_prompt: settingsForm.elements.system_prompt.value,
      temperature: temperature === "" ? null : Number(temperature),
    };
  }

  async function postForm(url, fields) {
    const body = new FormData();
    for (const [key, value] of Object.entries(fields)) body.append(key, value ?? "");
    const response = await fetch(url, {
      method: "POST",
      body,
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok || response.redirected) {
      const error = await errorFrom(response);
      throw Object.assign(new Error(describe(error)), { code: error.code });
    }
    return response.json();
  }

  function messageElement(role, text, model, images = []) {
    const article = document.createElement("article");
    article.className = `msg msg-${role}`;
    const who = document.createElement("div");
    who.className = "msg-role";
    who.textContent = role === "user" ? "You" : model;
    article.append(who);
    if (images.length) {
      const strip = document.createElement("div");
      strip.className = "msg-images";
      images.forEach((data, index) => strip.append(picture(data, `Image ${index + 1} you attached`)));
      article.append(strip);
    }
    const body = document.createElement("div");
    body.className = role === "user" ? "msg-body msg-text" : "msg-body md streaming";
    body.textContent = text;
    body.dataset.raw = text;
    article.append(body);
    $("#thread-empty")?.remove();
    thread.append(article);
    scrollDown();
    return article;
  }

  function setBusy(value) {
    busy = value;
    sendButton.hidden = busy;
    stopButton.hidden = !busy;
    stopButton.disabled = false;
    picker.disabled = busy;
    for (const button of thread.querySelectorAll("[data-regenerate], [data-edit], [data-show-version]")) {
      button.disabled = busy || ("showVersion" in button.dataset && !button.dataset.showVersion);
    }
    $("#attach").disabled = busy;
    if (!busy) prompt.focus();
  }

  // Stop asks the server to end the answer where it is; the stream then ends by itself. (Leaving
  // the page does not stop it: the answer is finished on the server and shown on return.)
  async function requestStop() {
    if (!state) {
      controller?.abort();
      return;
    }
    stopButton.disabled = true;
    try {
      await postForm(`${composer.dataset.conversationUrl}${state.id}/stop`, {});
    } catch (error) {
      stopButton.disabled = false;
      showError(error.message, error.code);
    }
  }

  function titleFrom(text) {
    const line = text.split(/\s+/).filter(Boolean).join(" ");
    return line.length <= 60 ? line : `${line.slice(0, 59).trimEnd()}…`;
  }

  // A thinking model's thoughts stream into a folded-open box above the answer.
  function thinkingBox(body) {
    let box = body.parentElement.querySelector("details.thinking");
    if (!box) {
      box = document.createElement("details");
      box.className = "thinking";
      box.open = true;
      const summary = document.createElement("summary");
      summary.textContent = "Thinking…";
      const text = document.createElement("div");
      text.className = "pre-wrap";
      box.append(summary, text);
      body.before(box);
    }
    return box.querySelector(".pre-wrap");
  }

  async function readStream(response, body) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { code: "network", message: "the answer ended early" };
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (!data) continue;
        const payload = JSON.parse(data);
        if (event === "error") return payload.error || { code: "internal_error" };
        if (event === "done") return null;
        if (payload.thinking) {
          thinkingBox(body).append(payload.thinking);
          scrollDown();
        }
        if (payload.delta) {
          body.dataset.raw += payload.delta;
          body.append(payload.delta); // shown at once; formatted by the next render
          scheduleRender(body);
          scrollDown();
        }
      }
    }
  }

  // While an answer streams, the server renders what has come so far (the same Markdown and
  // sanitizer as the finished answer) a few times a second, so formatting appears as it arrives.
  let renderTimer = null;
  function scheduleRender(body) {
    if (renderTimer) return;
    renderTimer = setTimeout(async () => {
      const text = body.dataset.raw;
      try {
        const data = await postForm(composer.dataset.renderUrl, { text });
        if (body.classList.contains("streaming")) {
          const pending = body.dataset.raw.slice(text.length);
          body.innerHTML = data.html;
          if (pending) body.append(pending);
          decorateCode(body);
        }
      } catch { /* the plain text stays until the answer ends */ }
      renderTimer = null;
      if (body.classList.contains("streaming") && body.dataset.raw !== text) scheduleRender(body);
    }, 250);
  }

  // Code blocks get their language and a copy button.
  function decorateCode(container) {
    for (const pre of container.querySelectorAll(".md pre:not(.decorated)")) {
      pre.classList.add("decorated");
      const language = /language-([\w+#.-]+)/.exec(pre.querySelector("code")?.className || "");
      const head = document.createElement("div");
      head.className = "code-head";
      const label = document.createElement("span");
      label.textContent = language ? language[1] : "text";
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "link";
      copy.dataset.copyCode = "";
      copy.textContent = "Copy code";
      head.append(label, copy);
      pre.before(head);
    }
  }

  function updateSidebar() {
    $("#chat-title").textContent = state.title;
    $("#rename-title").value = state.title;
    document.title = `${state.title} · Corral`;
    const list = $("#conversation-list");
    let link = list.querySelector(`[data-conversation="${state.id}"]`);
    if (!link) {
      list.querySelector(".empty-list")?.remove();
      let today = list.querySelector('[data-group="Today"] ul');
      if (!today) {
        const group = document.createElement("section");
        group.className = "conversation-group";
        group.dataset.group = "Today";
        const label = document.createElement("h2");
        label.className = "group-label";
        label.textContent = "Today";
        today = document.createElement("ul");
        group.append(label, today);
        list.prepend(group);
      }
      const item = document.createElement("li");
      link = document.createElement("a");
      link.href = `${composer.dataset.conversationUrl}${state.id}/`;
      link.dataset.conversation = state.id;
      item.append(link);
      today.prepend(item);
      $("#export-markdown").href = `${link.href}export.md`;
      $("#export-json").href = `${link.href}export.json`;
    }
    for (const other of list.querySelectorAll("[aria-current]")) other.removeAttribute("aria-current");
    link.setAttribute("aria-current", "page");
    link.textContent = state.title;
  }

  // The server's copy is the truth: after Stop it may still be finishing the answer for a moment,
  // and an answer found running on arrival is waited for. Answers null once the thread shows it,
  // else why it could not be read.
  async function refreshThread(patienceMs = 10000) {
    const since = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      let response;
      try {
        response = await fetch(`${composer.dataset.conversationUrl}${state.id}/thread`, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
      } catch {
        return { code: "network" };
      }
      if (!response.ok || response.redirected) return errorFrom(response);
      const data = await response.json();
      if (data.streaming && Date.now() - since < patienceMs) {
        await sleep(Math.min(1000, 200 + attempt * 50));
        continue;
      }
      applyThread(data);
      return null;
    }
  }

  function applyThread(data) {
    thread.innerHTML = data.html;
    decorateCode(thread);
    state = data;
    updateSidebar();
    scrollDown();
  }

  async function awaitRunningAnswer() {
    setBusy(true);
    const unread = await refreshThread(15 * 60 * 1000);
    setBusy(false);
    if (unread) showError(describe(unread), unread.code);
  }

  function failureShownInThread(question) {
    const shown = thread.querySelectorAll(".msg");
    const last = shown[shown.length - 1];
    if (!last?.matches(".msg-assistant.is-failed")) return false;
    const asked = shown[shown.length - 2];
    return question === null || asked?.querySelector(".msg-body")?.textContent === question;
  }

  // What was typed survives a sign-in: kept for this tab until the chat is open again.
  const draftKey = "corral-draft";
  function keepDraft(text) {
    try { sessionStorage.setItem(draftKey, text); } catch { /* storage off: the composer keeps it */ }
  }
  function restoreDraft() {
    try {
      const draft = sessionStorage.getItem(draftKey);
      sessionStorage.removeItem(draftKey);
      if (draft && !prompt.value) prompt.value = draft;
    } catch { /* storage off */ }
  }

  // A question (with the images attached to it), or null to answer the last question again; with
  // `editTurn`, the question replaces the one at that place in the history (an edit: the earlier
  // version is kept on the server and shown as ‹ 1/2 ›).
  async function ask(question, { images = [], editTurn = null } = {}) {
    hideError();
    const model = picker.value;
    if (!model || busy) return;
    if (images.length && !sees(model)) {
      showError(`${model} does not read images. Pick a model that lists vision, or remove the images.`);
      return;
    }
    const settings = currentSettings();
    if (settings.temperature !== null && !(settings.temperature >= 0 && settings.temperature <= 2)) {
      showError("Temperature must be a number from 0 to 2.");
      return;
    }
    try {
      if (!state) {
        const created = await postForm(composer.dataset.newUrl, { model, ...settings });
        state = { id: created.id, title: "New chat", history: [], ...settings };
        history.replaceState(null, "", created.url);
        settingsForm.action = `${created.url}settings`;
        $("#rename-form").action = `${created.url}rename`;
        $("#delete-form").action = `${created.url}delete`;
        $("#conversation-menu").hidden = false;
        // the new chat is in the list at once, named after its question, not after the answer
        if (question) state.title = titleFrom(question);
        updateSidebar();
      } else if (
        settings.system_prompt !== state.system_prompt || settings.temperature !== state.temperature
      ) {
        await postForm(`${composer.dataset.conversationUrl}${state.id}/settings`, settings);
        Object.assign(state, settings);
      }
    } catch (error) {
      showError(error.message, error.code);
      if (error.code === "unauthenticated" && question) keepDraft(question);
      return;
    }

    let turns = state.history.slice();
    if (question === null) {
      if (turns.length && turns[turns.length - 1].role === "assistant") turns.pop();
      const answers = thread.querySelectorAll(".msg-assistant");
      answers[answers.length - 1]?.remove();
    } else {
      if (editTurn !== null) {
        turns = turns.slice(0, editTurn);
        const edited = thread.querySelector(`.msg[data-turn="${editTurn}"]`);
        while (edited?.nextElementSibling) edited.nextElementSibling.remove();
        edited?.remove();
      }
      turns.push(images.length ? { role: "user", content: question, images } : { role: "user", content: question });
    }
    const messages = (settings.system_prompt ? [{ role: "system", content: settings.system_prompt }] : []).concat(turns);
    const request = { model, messages, stream: true, conversation_id: state.id };
    if (!$("#think-toggle").hidden && $("#think").checked) request.think = true;
    if (settings.temperature !== null) request.options = { temperature: settings.temperature };
    const payload = JSON.stringify(request);
    if (payload.length > Number(composer.dataset.maxBytes)) {
      const limit = Math.floor(Number(composer.dataset.maxBytes) / 1048576);
      showError(`Too much to send at once: a message and its conversation's images may be at most ${limit} MB. Attach fewer or smaller images, or start a new chat.`);
      if (editTurn !== null || question === null) await refreshThread();
      return;
    }
    if (question !== null) {
      messageElement("user", question, model, images);
      if (editTurn === null) {
        prompt.value = "";
        resize();
        setAttachments([]);
      }
    }
    const body = messageElement("assistant", "", model).querySelector(".msg-body");

    controller = new AbortController();
    setBusy(true);
    let failure = null;
    try {
      const response = await fetch(composer.dataset.chatUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: payload,
        signal: controller.signal,
        credentials: "same-origin",
      });
      failure = response.ok ? await readStream(response, body) : await errorFrom(response);
    } catch (error) {
      if (error.name !== "AbortError") failure = { code: "network" };
    }
    controller = null;
    setBusy(false);
    const unread = await refreshThread();
    if (unread) {
      // the thread could not be read back: no cursor left blinking over an answer that is not coming
      body.classList.remove("streaming");
      if (!body.textContent) body.closest(".msg").remove();
      failure = failure && failure.code !== "network" ? failure : unread;
    }
    // a failure the thread shows on the answer itself is not said twice
    if (failure && (unread || !failureShownInThread(question))) showError(describe(failure), failure.code);
    if ((failure || unread) && question !== null && editTurn === null) {
      // A call refused before it started left nothing behind: give the question back.
      const last = state.history[state.history.length - 1];
      const kept = unread ? false : last && last.role === "user" && last.content === question;
      if (!kept && !prompt.value) {
        prompt.value = question;
        resize();
        if (images.length && !attachments.length) setAttachments(images);
      }
      if (failure?.code === "unauthenticated") keepDraft(question);
    }
  }

  // --- images for vision models: picked, pasted or dropped; sent as base64 with the question ---
  const sees = (model) => Boolean(cards[model]?.capabilities?.includes("vision"));
  const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif"];

  // the type from the first bytes, as the server does before it shows an image back
  const SIGNATURES = { iVBORw0KGgo: "image/png", "/9j/": "image/jpeg", R0lGOD: "image/gif", UklGR: "image/webp" };
  function picture(data, alt) {
    const image = document.createElement("img");
    const type = Object.entries(SIGNATURES).find(([start]) => data.startsWith(start))?.[1] || "application/octet-stream";
    image.src = `data:${type};base64,${data}`;
    image.alt = alt;
    return image;
  }

  function setAttachments(list) {
    attachments = list;
    const strip = $("#attachments");
    strip.replaceChildren();
    attachments.forEach((data, index) => {
      const figure = document.createElement("figure");
      figure.className = "attachment";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", `Remove image ${index + 1}`);
      remove.addEventListener("click", () => setAttachments(attachments.filter((_, at) => at !== index)));
      figure.append(picture(data, `Image ${index + 1} to send`), remove);
      strip.append(figure);
    });
    strip.hidden = !attachments.length;
  }

  function readAsBase64(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  async function attach(files) {
    const images = [...files].filter((file) => file.type.startsWith("image/"));
    if (!images.length) return false;
    hideError();
    if (!sees(picker.value)) {
      showError(`${picker.value} does not read images. Pick a model that lists vision to send them.`);
      return true;
    }
    const unknown = images.filter((file) => !IMAGE_TYPES.includes(file.type));
    if (unknown.length) showError("Only PNG, JPEG, WebP and GIF images can be sent; the others were left out.");
    const read = await Promise.all(images.filter((file) => IMAGE_TYPES.includes(file.type)).map(readAsBase64));
    const room = 16 - attachments.length; // the API takes up to 16 images per message
    if (read.length > room) showError("At most 16 images go with one message; the rest were left out.");
    setAttachments(attachments.concat(read.slice(0, Math.max(0, room))));
    return true;
  }

  // Editing a sent question: it is asked again as changed, the earlier version kept (‹ 1/2 ›).
  function openEditor(article) {
    if (busy || article.querySelector(".msg-edit")) return;
    const turn = Number(article.dataset.turn);
    const sent = state.history[turn];
    const body = article.querySelector(".msg-body");
    const actions = article.querySelector(".msg-actions");
    const editor = document.createElement("form");
    editor.className = "msg-edit";
    const field = document.createElement("textarea");
    field.value = sent.content;
    field.rows = Math.min(8, sent.content.split("\n").length + 1);
    field.setAttribute("aria-label", "Edit your message");
    const buttons = document.createElement("div");
    buttons.className = "form-actions";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Send edit";
    buttons.append(cancel, save);
    editor.append(field, buttons);
    body.hidden = actions.hidden = true;
    body.after(editor);
    field.focus();
    const close = () => {
      editor.remove();
      body.hidden = actions.hidden = false;
    };
    cancel.addEventListener("click", close);
    field.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        close();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        editor.requestSubmit();
      }
    });
    editor.addEventListener("submit", (event) => {
      event.preventDefault();
      const question = field.value.trim();
      if (!question && !(sent.images || []).length) return;
      ask(question, { images: sent.images || [], editTurn: turn });
    });
  }

  function resize() {
    prompt.style.height = "auto";
    prompt.style.height = `${Math.min(prompt.scrollHeight, 220)}px`;
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = prompt.value.trim();
    if (question || attachments.length) ask(question, { images: attachments });
  });
  $("#attach").addEventListener("click", () => $("#attach-input").click());
  $("#attach-input").addEventListener("change", async (event) => {
    await attach(event.target.files);
    event.target.value = "";
  });
  prompt.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (files.some((file) => file.type.startsWith("image/"))) {
      if (!event.clipboardData.getData("text/plain")) event.preventDefault();
      attach(files);
    }
  });
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  for (const zone of [composer, thread]) {
    zone.addEventListener("dragover", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      composer.classList.add("dropping");
    });
    zone.addEventListener("dragleave", () => composer.classList.remove("dropping"));
    zone.addEventListener("drop", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      composer.classList.remove("dropping");
      attach(event.dataTransfer.files);
    });
  }
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  prompt.addEventListener("input", resize);
  stopButton.addEventListener("click", requestStop);

  thread.addEventListener("click", async (event) => {
    const regenerate = event.target.closest("[data-regenerate]");
    if (regenerate) {
      ask(null);
      return;
    }
    const version = event.target.closest("[data-show-version]");
    if (version?.dataset.showVersion) {
      try {
        applyThread(await postForm(`${composer.dataset.conversationUrl}${state.id}/version`, { message: version.dataset.showVersion }));
      } catch (error) {
        showError(error.message, error.code);
      }
      return;
    }
    const edit = event.target.closest("[data-edit]");
    if (edit) {
      openEditor(edit.closest(".msg"));
      return;
    }
    const copy = event.target.closest("[data-copy-text], [data-copy-code]");
    if (copy) {
      const label = copy.textContent;
      const text = "copyCode" in copy.dataset
        ? copy.parentElement.nextElementSibling.textContent
        : copy.dataset.copyText;
      try {
        await navigator.clipboard.writeText(text);
        copy.textContent = "Copied";
      } catch {
        copy.textContent = "Copy failed";
      }
      setTimeout(() => { copy.textContent = label; }, 1500);
    }
  });

  document.addEventListener("submit", (event) => {
    const question = event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  const toggle = $(".sidebar-toggle");
  const backdrop = $("#drawer-backdrop");
  function setDrawer(open) {
    $("#chat-sidebar").classList.toggle("open", open);
    backdrop.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
  }
  toggle.addEventListener("click", () => setDrawer(!$("#chat-sidebar").classList.contains("open")));
  backdrop.addEventListener("click", () => setDrawer(false));

  // Esc closes what is open (a menu, the drawer), else stops the answer being written; a click
  // outside a menu closes it.
  const openMenus = () => [...document.querySelectorAll("details.menu[open]")];
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.isComposing) return;
    const menus = openMenus();
    if (menus.length) {
      for (const menu of menus) menu.open = false;
      menus[0].querySelector("summary").focus();
    } else if ($("#chat-sidebar").classList.contains("open")) {
      setDrawer(false);
      toggle.focus();
    } else if (busy && !stopButton.hidden) {
      requestStop();
    }
  });
  document.addEventListener("click", (event) => {
    for (const menu of openMenus()) if (!menu.contains(event.target)) menu.open = false;
  });

  // Shortcuts: Ctrl/⌘+Shift+O opens a new chat; "/" (outside a text field) goes to the search.
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, textarea, select, [contenteditable]");
    if ((event.ctrlKey || event.metaKey) && event.shiftKey && event.key.toLowerCase() === "o") {
      event.preventDefault();
      location.assign($(".new-chat").href);
    } else if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      const search = $("#chat-search");
      if (!search.offsetParent) setDrawer(true); // on a phone the search is in the drawer
      search.focus();
    }
  });

  // Settings are saved with the conversation; before its first message they wait for it.
  settingsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const settings = currentSettings();
    const status = $("#settings-status");
    if (settings.temperature !== null && !(settings.temperature >= 0 && settings.temperature <= 2)) {
      status.textContent = "Temperature must be a number from 0 to 2.";
      return;
    }
    if (!state) {
      status.textContent = "Saved: they go with this chat's first message.";
      return;
    }
    try {
      await postForm(`${composer.dataset.conversationUrl}${state.id}/settings`, settings);
      Object.assign(state, settings);
      status.textContent = "Saved for this conversation.";
    } catch (error) {
      status.textContent = error.message;
    }
  });

  // What Ollama says of the chosen model: family, size, quantization, context, capabilities.
  function showModelCard() {
    const card = cards[picker.value];
    const line = $("#model-card");
    $("#think-toggle").hidden = !card?.capabilities?.includes("thinking");
    $("#attach").hidden = !sees(picker.value);
    if (!card || !card.known) {
      line.textContent = "";
      return;
    }
    const parts = [card.family, card.parameter_size, card.quantization];
    if (card.context_length) parts.push(`context ${Number(card.context_length).toLocaleString()}`);
    const abilities = card.capabilities.filter((name) => name !== "completion");
    if (abilities.length) parts.push(abilities.join(", "));
    line.textContent = parts.filter(Boolean).join(" · ");
  }
  picker.addEventListener("change", showModelCard);
  showModelCard();

  decorateCode(thread);
  restoreDraft();
  resize();
  scrollDown();
  if (picker.value) prompt.focus();
  if (state?.streaming) awaitRunningAnswer();
})();
