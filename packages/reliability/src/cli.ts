// consul-watch-soak: placeholder until the soak run lands.
export {};
