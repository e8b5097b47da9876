import { defineConfig } from "vite";

// Everything is bundled into dist/ (no CDN: the dashboard must work on a machine without internet).
// Relative asset URLs, so the same build works at / (local gateway) and behind CloudFront.
export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: { port: 5173, strictPort: true },
});
