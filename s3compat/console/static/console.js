// The s3compat console's scripts: live cluster figures and browser uploads. Plain JS, no build.
"use strict";

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

// --- The cluster page: swap in the server-rendered live part every few seconds. -----------

function followLive(live) {
  const every = 1000 * Number(live.dataset.every || 2);
  async function refresh() {
    try {
      const answer = await fetch(live.dataset.live, { credentials: "same-origin" });
      if (answer.redirected || answer.status === 401) { window.location.reload(); return; }
      if (answer.ok) {
        live.innerHTML = await answer.text();
        live.dataset.updated = String(Date.now());
      }
    } catch (error) {
      live.dataset.error = String(error);
    }
    window.setTimeout(refresh, every);
  }
  window.setTimeout(refresh, every);
}

// --- Uploads: the bytes go to the S3 API by presigned URLs, never through the console. -------

function send(method, url, body, onProgress) {
  // XMLHttpRequest, not fetch: only it reports upload progress.
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, url);
    if (onProgress) request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => {
      if (request.status >= 200 && request.status < 300 && !/<Error>/.test(request.responseText)) {
        resolve(request);
      } else {
        const code = /<Code>([^<]*)<\/Code>/.exec(request.responseText);
        reject(new Error(`${method} answered ${request.status} ${code ? code[1] : ""}`));
      }
    };
    request.onerror = () => reject(new Error(`${method} failed: network error`));
    request.send(body);
  });
}

async function askConsole(url, body) {
  const answer = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
  });
  if (!answer.ok) throw new Error(`the console answered ${answer.status}`);
  return answer.json();
}

function xmlText(text, name) {
  const found = new DOMParser().parseFromString(text, "application/xml").getElementsByTagName(name);
  return found.length ? found[0].textContent : null;
}

function xmlEscape(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

async function uploadOne(section, file, report) {
  const key = section.dataset.prefix + file.name;
  const plan = await askConsole(section.dataset.start, { key: key, size: file.size });
  if (plan.mode === "single") {
    await send("PUT", plan.put, file, report);
    report(file.size);
    return;
  }
  const created = await send("POST", plan.create, null, null);
  const uploadId = xmlText(created.responseText, "UploadId");
  const urls = await askConsole(section.dataset.parts, {
    key: key, upload_id: uploadId, count: plan.parts,
  });
  try {
    const etags = [];
    // One part at a time: a part is a slice of the file on disk, so memory stays flat.
    for (let index = 0; index < plan.parts; index += 1) {
      const start = index * plan.part_bytes;
      const part = file.slice(start, Math.min(file.size, start + plan.part_bytes));
      const sent = await send("PUT", urls.parts[index], part, (loaded) => report(start + loaded));
      etags.push(sent.getResponseHeader("ETag"));
    }
    const body = "<CompleteMultipartUpload>" + etags.map((etag, index) =>
      `<Part><PartNumber>${index + 1}</PartNumber><ETag>${xmlEscape(etag)}</ETag></Part>`
    ).join("") + "</CompleteMultipartUpload>";
    await send("POST", urls.complete, body, null);
    report(file.size);
  } catch (error) {
    await send("DELETE", urls.abort, null, null).catch(() => null);
    throw error;
  }
}

function followUploads(section) {
  const input = document.getElementById("upload-file");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  input.addEventListener("change", async () => {
    const files = Array.from(input.files);
    const total = files.reduce((sum, file) => sum + file.size, 0) || 1;
    let done = 0;
    let events = 0;
    bar.hidden = false;
    bar.value = 0;
    input.disabled = true;
    try {
      for (const file of files) {
        status.textContent = `Uploading ${file.name}…`;
        await uploadOne(section, file, (loaded) => {
          events += 1;
          bar.value = (100 * (done + loaded)) / total;
          bar.dataset.events = String(events);
        });
        done += file.size;
      }
      bar.value = 100;
      status.textContent = `Uploaded ${files.length} file${files.length === 1 ? "" : "s"}.`;
      status.dataset.done = "true";
      window.setTimeout(() => window.location.reload(), 800);
    } catch (error) {
      status.textContent = `Upload failed: ${error.message}`;
      status.dataset.failed = "true";
    } finally {
      input.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) followLive(live);
  const upload = document.getElementById("upload");
  if (upload) followUploads(upload);
});
