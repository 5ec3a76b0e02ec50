"use client";
// The client components. They import the server functions (through the variant's ./fns.mjs),
// so every id is a createServerReference("<id>") literal in the client chunks.
import { useActionState, useEffect, useState } from "react";
import ErrorBoundary from "@lazarv/react-server/error-boundary";

import { buttonFn, hydratedFn, jsFormFn, noJsFn } from "./fns.mjs";
import { kept } from "./kept.mjs";

export function Hydrated() {
  useEffect(() => { document.documentElement.dataset.hydrated = "1"; }, []);
  return null;
}

function CallButton({ fn, id, label }) {
  const [state, setState] = useState({ calls: 0, status: "idle", result: "", error: "" });
  return (
    <div>
      <button id={`${id}-button`} onClick={async () => {
        setState((s) => ({ ...s, calls: s.calls + 1, status: "pending" }));
        try {
          const result = await fn();
          setState((s) => ({ ...s, status: result === undefined ? "resolved-undefined" : "resolved", result: String(result ?? "") }));
        } catch (e) {
          setState((s) => ({ ...s, status: "rejected", error: String(e?.digest || e?.message || e) }));
        }
      }}>{label}</button>
      <span id={`${id}-status`}>{state.status}</span>
      <span id={`${id}-calls`}>{state.calls}</span>
      <span id={`${id}-result`}>{state.result}</span>
      <span id={`${id}-error`}>{state.error}</span>
    </div>
  );
}

function BoundaryFallback({ error }) {
  return <p id="boundary-error">{String(error?.digest || error?.message || error)}</p>;
}

function HydratedFormInner() {
  const [state, formAction] = useActionState(hydratedFn, "");
  return (
    <form action={formAction}>
      <input type="hidden" name="who" value="hydrated" />
      <button id="hform-submit" type="submit">submit (hydrated)</button>
      <span id="hform-result">{state}</span>
    </form>
  );
}

export function HydratedForm() {
  return (
    <ErrorBoundary component={BoundaryFallback}>
      <HydratedFormInner />
    </ErrorBoundary>
  );
}

export function ActionButton() {
  return <CallButton fn={buttonFn} id="action" label="call the server function" />;
}

export function KeptButton() {
  return <CallButton fn={kept} id="kept" label="call the kept function" />;
}

// A JS form: <form action={fn}>, fn the client-side action that calls the server function
// (POST rsc.x-component with React-Server-Action, multipart) and shows what it returned.
export function JsForm() {
  const [result, setResult] = useState("");
  return (
    <form action={async (formData) => { setResult(await jsFormFn(formData)); }}>
      <input type="hidden" name="who" value="js" />
      <button id="form-submit" type="submit">submit (JS form)</button>
      <span id="form-result">{result}</span>
    </form>
  );
}

// The same in a tab without JavaScript: the server-rendered form posts the document as
// multipart with a $ACTION_ID_<id> field.
export function NoJsForm() {
  return (
    <form action={noJsFn}>
      <input type="hidden" name="who" value="nojs" />
      <button id="nojs-submit" type="submit">submit (no JS)</button>
    </form>
  );
}
