// Where the hospital's H5 site is (its domain must be the web-view business domain in the mini
// program's settings). `cashier serve` prints the address it listens on.
var HOST = 'https://h5.example.com';

if (typeof module !== 'undefined') {
  module.exports = { HOST: HOST };
}
