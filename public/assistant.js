// Before a thread is deleted from the sidebar, ask whether to also forget the memories that came from it.
(() => {
  const originalFetch = window.fetch.bind(window);
  const QUESTION =
    "Also forget the memories that came from this conversation?\n\n" +
    "OK: forget them too.\nCancel: keep them (only the conversation is deleted).";
  window.fetch = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input.url;
    const method = (init.method || "GET").toUpperCase();
    const path = url.split("?")[0];
    if (method === "DELETE" && path.endsWith("/project/thread") && typeof init.body === "string") {
      let threadId = null;
      try {
        threadId = JSON.parse(init.body).threadId;
      } catch (e) {
        threadId = null;
      }
      if (threadId && window.confirm(QUESTION)) {
        const base = path.slice(0, -"/project/thread".length);
        const response = await originalFetch(`${base}/assistant/threads/${threadId}/forget-memories`, {
          method: "POST",
          credentials: "include",
          headers: init.headers,
        });
        if (!response.ok) {
          window.alert("The memories could not be forgotten, so the conversation was not deleted.");
          return new Response(JSON.stringify({ detail: "memories not forgotten" }), { status: 500 });
        }
      }
    }
    return originalFetch(input, init);
  };
})();
