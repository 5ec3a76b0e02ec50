import Link from 'next/link';
import BuildBanner from '../BuildBanner';

export const dynamic = 'force-dynamic';

export default function Second() {
  return (
    <main>
      <BuildBanner page="second" />
      <p id="second-page">This is the second page.</p>
      <Link href="/" id="link-home">Back home</Link>
    </main>
  );
}
