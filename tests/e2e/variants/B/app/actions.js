'use server';

// Build B's actions: A's `ping` is renamed `pingRenamed`.

export async function pingRenamed(greeting) {
  return { servedBy: process.env.BUILD_LABEL, greeting };
}

export async function submitForm(previous, formData) {
  return { servedBy: process.env.BUILD_LABEL, note: String(formData.get('note') ?? '') };
}

export async function noJsSubmit(formData) {
  const state = (globalThis.__skewgateE2eNoJs ??= { count: 0 });
  state.count += 1;
}
