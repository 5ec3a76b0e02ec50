'use client';

import { useEffect } from 'react';

// Marks <html data-hydrated="1"> once React has hydrated, so the driver never
// clicks a button before its handler exists.
export default function Hydrated() {
  useEffect(() => {
    document.documentElement.dataset.hydrated = '1';
  }, []);
  return null;
}
