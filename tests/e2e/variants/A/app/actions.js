'use server';

// Build A's actions. Build B renames ping (variants/B/app/actions.js).

export async function ping(greeting) {
  return { servedBy: process.env.BUILD_LABEL, greeting };
}

export async function submitForm(previous, formData) {
  return { servedBy: process.env.BUILD_LABEL, note: String(formData.get('note') ?? '') };
}

export async function noJsSubmit(formData) {
  const state = (globalThis.__skewgateE2eNoJs ??= { count: 0 });
  state.count += 1;
}
