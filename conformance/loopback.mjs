// Loaded before the test suite's origin server (node --import): its server.listen(port) would
// listen on every interface; a port alone is made a port on 127.0.0.1.
import net from 'node:net'

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || typeof args[0] === 'string') {
    const [port, ...rest] = args
    const callback = typeof rest[rest.length - 1] === 'function' ? rest.pop() : undefined
    return listen.call(this, Number(port), '127.0.0.1', ...(callback ? [callback] : []))
  }
  return listen.apply(this, args)
}
