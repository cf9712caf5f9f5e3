/*
 * jsonlfn's Swagger UI plugin: JSON Lines and Server-Sent Events streams on the docs page.
 *
 * Swagger UI reads a response's `schema` and reads a body whole. For streams, this
 * file (1) shows each stream's `itemSchema` as the response schema, with one example
 * line per item type, and (2) runs "Try it out" as a stream, whichever media type is
 * chosen (each JSON Lines alias, or text/event-stream): lines, or events, are decoded
 * and shown as they arrive, and a Stop button aborts the request (the server then
 * closes the generator). Written against Swagger UI's documented plugin API (wrapActions,
 * wrapComponents); no Swagger UI internals are patched.
 */
(function () {
  "use strict";

  var JSONL = /^application\/(jsonl|x-ndjson|json-lines)\s*(;|$)/i;
  var SSE = /^text\/event-stream\s*(;|$)/i;
  function isStream(type) { return JSONL.test(type) || SSE.test(type); }
  var KEPT_LINES = 500; // the page shows the newest lines of an endless stream

  /* (1) The document as the page shows it. */

  // Swagger UI shows `schema` (with its models) and `examples`: each JSONL media type
  // gets its item schema as `schema`, one example per item type, and the response
  // description gets example lines, one per item type, as they are written.
  function forDisplay(document) {
    var copy = JSON.parse(JSON.stringify(document));
    var components = (copy.components || {}).schemas || {};
    Object.values(copy.paths || {}).forEach(function (item) {
      Object.values(item).forEach(function (operation) {
        if (operation && typeof operation.summary === "string") {
          // Swagger UI draws a summary as plain text: Markdown code spans would show
          // their backticks, so the page shows their text (the description keeps them).
          operation.summary = operation.summary.replace(/`([^`]+)`/g, "$1");
        }
        Object.values((operation && operation.responses) || {}).forEach(function (response) {
          showItems(response, components);
        });
      });
    });
    return copy;
  }

  function showItems(response, components) {
    var lines = null;
    Object.entries(response.content || {}).forEach(function (entry) {
      var media = entry[1];
      if (!isStream(entry[0]) || !("itemSchema" in media)) return;
      if (SSE.test(entry[0])) { // the event's fields; its data is the item, as JSON
        media.schema = media.itemSchema;
        return;
      }
      var variants = media.itemSchema.anyOf || media.itemSchema.oneOf || [media.itemSchema];
      media.schema = media.itemSchema;
      media.examples = {};
      variants.forEach(function (variant, index) {
        var name = variant.$ref ? variant.$ref.split("/").pop() : "item " + (index + 1);
        media.examples[name] = { value: sample(variant, components, 0) };
      });
      lines = variants.map(function (variant) {
        return JSON.stringify(sample(variant, components, 0));
      });
    });
    if (lines) {
      response.description = (response.description || "") +
        "\n\nExample lines (one JSON value per line):\n\n```\n" + lines.join("\n") + "\n```";
    }
  }

  function sample(schema, components, depth) {
    if (schema.$ref) {
      var target = components[schema.$ref.split("/").pop()];
      return target && depth < 8 ? sample(target, components, depth + 1) : {};
    }
    if ("const" in schema) return schema.const;
    if (schema.examples && schema.examples.length) return schema.examples[0];
    if ("default" in schema) return schema.default;
    if (schema.enum) return schema.enum[0];
    var variants = schema.anyOf || schema.oneOf || schema.allOf;
    if (variants) return sample(variants[0], components, depth + 1);
    return sampleOfType(schema, components, depth);
  }

  function sampleOfType(schema, components, depth) {
    var type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    switch (type) {
      case "object":
        var found = {};
        Object.entries(schema.properties || {}).forEach(function (entry) {
          found[entry[0]] = sample(entry[1], components, depth + 1);
        });
        return found;
      case "array":
        return schema.items ? [sample(schema.items, components, depth + 1)] : [];
      case "integer":
      case "number":
        return schema.minimum !== undefined ? schema.minimum : 0;
      case "boolean":
        return true;
      case "null":
        return null;
      case "string":
        return { "date-time": "2026-01-01T00:00:00Z", uuid: "00000000-0000-0000-0000-000000000000" }[schema.format] || "string";
      default:
        return {}; // any JSON value
    }
  }

  /* (2) "Try it out" as a stream. */

  var streams = {}; // request URL -> the Stream shown for it

  function Stream() {
    this.lines = [];
    this.count = 0;
    this.state = "streaming";
    this.listeners = [];
    this.controller = new AbortController();
  }

  Stream.prototype.changed = function () {
    this.listeners.slice().forEach(function (listener) { listener(); });
  };

  Stream.prototype.add = function (lines) {
    if (!lines.length) return;
    this.count += lines.length;
    this.lines = this.lines.concat(lines).slice(-KEPT_LINES);
    this.changed();
  };

  Stream.prototype.end = function (state) {
    if (this.state !== "streaming") return;
    this.state = state;
    this.changed();
  };

  Stream.prototype.stop = function () {
    this.end("stopped");
    this.controller.abort();
  };

  Stream.prototype.read = async function (body, events) {
    var reader = body.pipeThrough(new TextDecoderStream()).getReader();
    var pending = "";
    var take = events ? sseEvents() : function (lines) {
      return lines.filter(function (line) { return line !== ""; }).map(decode);
    };
    try {
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        var parts = (pending + chunk.value).split("\n");
        pending = parts.pop();
        this.add(take(parts));
      }
      this.end(pending || (events && take.open()) ? "ended inside " + (events ? "an event" : "a line") : "ended");
    } catch (error) {
      this.end("failed: " + error.message);
    }
  };

  // text/event-stream, as EventSource reads it (WHATWG HTML): comments skipped, fields
  // gathered until a blank line, an event with no data not dispatched. Each event is
  // shown as one line: its name unless "message", its id, its data (JSON, decoded).
  function sseEvents() {
    var data = [], name = "", id = "";
    var take = function (lines) {
      var shown = [];
      lines.forEach(function (raw) {
        var line = raw.replace(/\r$/, "");
        if (line === "") {
          if (data.length) {
            var text = data.join("\n");
            shown.push((name ? "event: " + name + "  " : "") + (id ? "id: " + id + "  " : "") + decode(text));
          }
          data = []; name = "";
          return;
        }
        if (line[0] === ":") return;
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "event") name = value;
        else if (field === "id" && value.indexOf("\0") < 0) id = value;
      });
      return shown;
    };
    take.open = function () { return data.length > 0; };
    return take;
  }

  function decode(line) {
    try {
      return JSON.stringify(JSON.parse(line));
    } catch (error) {
      return line + "   \u2190 not JSON";
    }
  }

  // swagger-client's `userFetch`: a stream's body is read here, line by line, and
  // Swagger UI gets the status and headers at once (its spinner stops) with no body.
  async function streamingFetch(url, request) {
    if (streams[url]) streams[url].stop();
    var stream = new Stream();
    var options = Object.assign({}, request, { signal: stream.controller.signal });
    var response = await fetch(url, options);
    var type = response.headers.get("content-type") || "";
    if (!isStream(type) || !response.body) return response;
    streams[url] = stream;
    stream.events = SSE.test(type);
    stream.read(response.body, stream.events);
    // Not empty: Swagger UI draws a response body only when swagger-client's `text` is
    // truthy, and it reads as text (so "") the types its /(json|xml|yaml|text)\b/
    // matches: application/x-ndjson, application/json-lines, text/event-stream.
    return new Response(" ", {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }

  function streamView(React) {
    var h = React.createElement;
    return function JsonlStream(props) {
      var stream = streams[props.url];
      var tick = React.useState(0)[1];
      React.useEffect(function () {
        if (!stream) return undefined;
        var listener = function () { tick(function (n) { return n + 1; }); };
        stream.listeners.push(listener);
        return function () {
          stream.listeners.splice(stream.listeners.indexOf(listener), 1);
          stream.stop(); // "Clear" or a new request: the old stream ends
        };
      }, [stream]);
      if (!stream) return null;
      var streaming = stream.state === "streaming";
      var unit = stream.events ? " event" : " line";
      var status = stream.count + unit + (stream.count === 1 ? "" : "s") + ", " + stream.state;
      var title = stream.events ? "Server-Sent Events, one item per event" : "JSON Lines, one item per line";
      return h("div", { className: "jsonlfn-stream" },
        h("h5", null, "Response body (" + title + ")"),
        h("p", null,
          h("span", { className: "jsonlfn-status" }, status), " ",
          streaming ? h("button", {
            className: "btn jsonlfn-stop",
            onClick: function () { stream.stop(); },
          }, "Stop") : null),
        h("pre", { className: "microlight jsonlfn-lines" }, stream.lines.join("\n")));
    };
  }

  function plugin(system) {
    var StreamView = streamView(system.React);
    return {
      statePlugins: {
        spec: {
          wrapActions: {
            executeRequest: function (original) {
              return function (request) {
                return original(Object.assign({}, request, { userFetch: streamingFetch }));
              };
            },
          },
        },
      },
      wrapComponents: {
        responseBody: function (Original) {
          return function (props) {
            if (isStream(props.contentType || "") && streams[props.url]) {
              return system.React.createElement(StreamView, { url: props.url });
            }
            return system.React.createElement(Original, props);
          };
        },
      },
    };
  }

  window.JsonlfnDocs = { forDisplay: forDisplay, plugin: plugin };
})();
