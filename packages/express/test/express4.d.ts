// `express4` is Express 4 installed under another name, so one suite runs on both majors.
// Its API is what @types/express describes for the parts these tests use.
declare module 'express4' {
  import express from 'express';
  export default express;
}
