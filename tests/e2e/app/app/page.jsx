import Link from 'next/link';
import BuildBanner from './BuildBanner';
import ActionButton from './ActionButton';
import FormAction from './FormAction';
import LazyLoader from './LazyLoader';
import { noJsSubmit } from './actions';

export const dynamic = 'force-dynamic';

export default function Home() {
  const nojs = globalThis.__skewgateE2eNoJs ?? { count: 0 };
  return (
    <main>
      <BuildBanner page="home" />

      <section>
        <h2>1. Server action from a button (try/catch)</h2>
        <ActionButton />
      </section>

      <section>
        <h2>2. Form with a server action (no try/catch: error boundary)</h2>
        <FormAction />
      </section>

      <section>
        <h2>3. Form that works without JavaScript</h2>
        <form action={noJsSubmit} id="nojs-form">
          <input type="hidden" name="note" value="from the no-JS form" />
          <button id="nojs-submit" type="submit">Submit (no JS needed)</button>
        </form>
        <p>
          no-JS submissions handled by this server (build {process.env.BUILD_LABEL}):{' '}
          <b id="nojs-count">{nojs.count}</b>
        </p>
      </section>

      <section>
        <h2>4. Client navigation</h2>
        <Link href="/second" id="link-second">Go to the second page</Link>
      </section>

      <section>
        <h2>5. Lazily imported client component</h2>
        <LazyLoader />
      </section>
    </main>
  );
}
